#include "target/pod_identity.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace leakhound::target {
namespace {

const std::string kId = "3f1c0e5d9a7b4c2e8f6a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e";

TEST(PodIdentity, CgroupfsLayout) {
  auto id =
      parse_cgroup_identity("/kubepods/burstable/pod0f5e8c4a-1b2c-4d3e-8f9a-0b1c2d3e4f5a/" + kId);
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.pod_uid, "0f5e8c4a-1b2c-4d3e-8f9a-0b1c2d3e4f5a");
}

TEST(PodIdentity, SystemdLayoutContainerd) {
  auto id = parse_cgroup_identity(
      "/kubepods.slice/kubepods-besteffort.slice/"
      "kubepods-besteffort-pod0f5e8c4a_1b2c_4d3e_8f9a_0b1c2d3e4f5a.slice/cri-containerd-" +
      kId + ".scope");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.pod_uid, "0f5e8c4a-1b2c-4d3e-8f9a-0b1c2d3e4f5a");
}

TEST(PodIdentity, GuaranteedQosHasNoQosSlice) {
  auto id = parse_cgroup_identity(
      "/kubepods.slice/kubepods-pod0f5e8c4a_1b2c_4d3e_8f9a_0b1c2d3e4f5a"
      ".slice/crio-" +
      kId + ".scope");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.pod_uid, "0f5e8c4a-1b2c-4d3e-8f9a-0b1c2d3e4f5a");
}

TEST(PodIdentity, PlainDockerContainer) {
  auto id = parse_cgroup_identity("/system.slice/docker-" + kId + ".scope");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.pod_uid, "");
}

TEST(PodIdentity, HostProcessesAndGarbage) {
  for (std::string_view p :
       {"/", "/user.slice/user-0.slice/session-3.scope", "", "//", "/kubepods/podnot-a-uid/xyz",
        "/pod", "/a-b-c-d.scope",
        "/docker-3f1c0e5d9a7b4c2e8f6a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0g"}) {
    auto id = parse_cgroup_identity(p);
    EXPECT_EQ(id.container_id, "") << p;
    EXPECT_EQ(id.pod_uid, "") << p;
  }
}

TEST(PodIdentity, ThisProcessIsReadWithoutFailing) {
  auto id = read_pod_identity(getpid());
  // The test machine is not a pod: no pod name or namespace is made up.
  if (id.pod_uid.empty()) {
    EXPECT_EQ(id.pod, "");
    EXPECT_EQ(id.ns, "");
  }
  auto gone = read_pod_identity(999999999);
  EXPECT_EQ(gone.container_id, "");
}

}  // namespace
}  // namespace leakhound::target
