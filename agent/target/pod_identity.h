// Which container and Kubernetes pod a process runs in, from what the node
// itself shows: the cgroup path (container ID, pod UID) and files inside the
// container's root (the service-account namespace, the pod's hostname). No
// API server is asked, so no RBAC is needed.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace leakhound::target {

struct PodIdentity {
  std::string container_id;  // 64 hex digits, "" outside a container
  std::string pod_uid;       // "" outside a Kubernetes pod
  std::string pod;           // pod name (the container's hostname), "" when unknown
  std::string ns;            // Kubernetes namespace, "" when unknown
};

// Container ID and pod UID from one cgroup path, for the cgroupfs and systemd
// layouts of kubelet and docker/containerd/CRI-O ("/kubepods/burstable/pod<uid>/<id>",
// ".../kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope").
PodIdentity parse_cgroup_identity(std::string_view cgroup_path);

// Everything known about PID's container and pod; fields left empty when the
// process is not in one or the files are absent. Never fails.
PodIdentity read_pod_identity(pid_t pid);

}  // namespace leakhound::target
