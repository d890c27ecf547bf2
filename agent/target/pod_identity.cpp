#include "target/pod_identity.h"

#include <algorithm>
#include <cctype>

#include "target/cgroup.h"
#include "target/process.h"

namespace leakhound::target {
namespace {

bool all_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

// First line, trimmed, at most `max` bytes: the files are the container's.
std::string first_line(std::string s, size_t max) {
  s = s.substr(0, s.find('\n'));
  if (s.size() > max) s.resize(max);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

}  // namespace

PodIdentity parse_cgroup_identity(std::string_view path) {
  PodIdentity id;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(pos, end - pos);
    pos = end + 1;
    // systemd: strip the unit suffix and the runtime prefix.
    for (std::string_view suffix : {".scope", ".slice"}) {
      if (part.size() > suffix.size() && part.ends_with(suffix)) part.remove_suffix(suffix.size());
    }
    if (size_t dash = part.rfind('-'); dash != std::string_view::npos && part.size() - dash == 65)
      part.remove_prefix(dash + 1);  // cri-containerd-<id>, docker-<id>, crio-<id>
    if (part.size() == 64 && all_hex(part)) {
      id.container_id = std::string(part);
      continue;
    }
    // "pod<uid>" (cgroupfs) or "kubepods-<qos>-pod<uid with _>" (systemd).
    if (size_t p = part.rfind("pod"); p != std::string_view::npos &&
                                      (p == 0 || part[p - 1] == '-') && part.size() - p - 3 == 36) {
      std::string uid(part.substr(p + 3));
      std::replace(uid.begin(), uid.end(), '_', '-');
      if (std::all_of(uid.begin(), uid.end(), [](char c) {
            return c == '-' || std::isxdigit(static_cast<unsigned char>(c));
          }))
        id.pod_uid = uid;
    }
  }
  return id;
}

PodIdentity read_pod_identity(pid_t pid) {
  PodIdentity id;
  if (auto text = read_text(fmt::format("/proc/{}/cgroup", pid)); text) {
    if (auto entries = parse_proc_cgroup(*text); entries) {
      // The unified (v2) line, else any v1 line naming a container.
      for (const CgroupEntry& e : *entries) {
        PodIdentity p = parse_cgroup_identity(e.path);
        if (id.container_id.empty()) id.container_id = p.container_id;
        if (id.pod_uid.empty()) id.pod_uid = p.pod_uid;
      }
    }
  }
  if (id.pod_uid.empty()) return id;
  // Inside the pod's own mount namespace, through /proc/PID/root.
  const std::string root = fmt::format("/proc/{}/root", pid);
  if (auto ns = read_text(root + "/var/run/secrets/kubernetes.io/serviceaccount/namespace"); ns)
    id.ns = first_line(*ns, 63);  // a DNS label
  if (auto host = read_text(root + "/etc/hostname"); host)
    id.pod = first_line(*host, 253);  // a DNS name
  return id;
}

}  // namespace leakhound::target
