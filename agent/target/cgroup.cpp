#include "target/cgroup.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "target/process.h"

namespace leakhound::target {
namespace {

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// v1 kernels report "no limit" as the largest page-aligned long.
constexpr uint64_t kV1Unlimited = 0x7FFFFFFFFFFFF000ULL;

std::optional<uint64_t> parse_limit(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  if (s == "max") return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  if (v >= kV1Unlimited) return std::nullopt;
  return v;
}

Result<uint64_t> read_u64(const std::string& path) {
  auto text = read_text(path);
  if (!text) return text.error();
  std::string_view s = *text;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty())
    return make_error("{}: not a number", path);
  return v;
}

// Unescapes mountinfo's octal escapes (\040 for a space).
std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    auto octal = [&](size_t k) { return i + k < s.size() && s[i + k] >= '0' && s[i + k] <= '7'; };
    if (s[i] == '\\' && octal(1) && octal(2) && octal(3)) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
      continue;
    }
    out += s[i];
  }
  return out;
}

}  // namespace

Result<std::vector<CgroupEntry>> parse_proc_cgroup(std::string_view text) {
  std::vector<CgroupEntry> out;
  for (const std::string& line : split(text, '\n')) {
    if (line.empty()) continue;
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) return make_error("malformed /proc/PID/cgroup line: {}", line);
    CgroupEntry e;
    auto [p, ec] = std::from_chars(line.data(), line.data() + a, e.hierarchy);
    if (ec != std::errc() || p != line.data() + a)
      return make_error("malformed /proc/PID/cgroup line: {}", line);
    std::string ctrl = line.substr(a + 1, b - a - 1);
    if (!ctrl.empty()) e.controllers = split(ctrl, ',');
    e.path = line.substr(b + 1);
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<CgroupMount>> parse_cgroup_mounts(std::string_view mountinfo) {
  std::vector<CgroupMount> out;
  for (const std::string& line : split(mountinfo, '\n')) {
    if (line.empty()) continue;
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) return make_error("malformed mountinfo line: {}", line);
    auto left = split(std::string_view(line).substr(0, dash), ' ');
    auto right = split(std::string_view(line).substr(dash + 3), ' ');
    if (left.size() < 6 || right.size() < 3)
      return make_error("malformed mountinfo line: {}", line);
    const std::string& fstype = right[0];
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    CgroupMount m;
    m.root = unescape(left[3]);
    m.mount_point = unescape(left[4]);
    m.v2 = fstype == "cgroup2";
    if (!m.v2) {
      for (const std::string& o : split(right[2], ',')) m.controllers.push_back(o);
    }
    out.push_back(std::move(m));
  }
  return out;
}

Result<MemoryLimit> read_memory_limit(pid_t pid) {
  auto cg_text = read_text(fmt::format("/proc/{}/cgroup", pid));
  if (!cg_text) return cg_text.error();
  auto entries = parse_proc_cgroup(*cg_text);
  if (!entries) return entries.error();
  auto mi_text = read_text("/proc/self/mountinfo");
  if (!mi_text) return mi_text.error();
  auto mounts = parse_cgroup_mounts(*mi_text);
  if (!mounts) return mounts.error();

  auto has = [](const std::vector<std::string>& v, const char* s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  // v1 memory controller first (a hybrid system keeps memory there), else v2.
  const CgroupEntry* entry = nullptr;
  const CgroupMount* mount = nullptr;
  for (const auto& e : *entries) {
    if (!has(e.controllers, "memory")) continue;
    for (const auto& m : *mounts) {
      if (!m.v2 && has(m.controllers, "memory")) entry = &e, mount = &m;
    }
  }
  if (!entry) {
    for (const auto& e : *entries) {
      if (e.hierarchy != 0 || !e.controllers.empty()) continue;
      for (const auto& m : *mounts) {
        if (m.v2) entry = &e, mount = &m;
      }
    }
  }
  if (!entry || !mount)
    return make_error("PID {} is in no cgroup with a memory controller that is mounted here", pid);

  MemoryLimit out;
  out.version = mount->v2 ? 2 : 1;
  out.cgroup = entry->path;
  // The cgroup's directory: its path relative to the mount's root.
  auto dir_of = [&](const std::string& cg) -> std::optional<std::string> {
    std::string root = mount->root == "/" ? "" : mount->root;
    if (!cg.starts_with(root)) return std::nullopt;
    return mount->mount_point + cg.substr(root.size());
  };
  auto own = dir_of(entry->path);
  if (!own)
    return make_error("PID {}: cgroup {} is outside the mounted hierarchy ({})", pid, entry->path,
                      mount->root);
  const char* limit_file = mount->v2 ? "memory.max" : "memory.limit_in_bytes";
  out.usage_file = *own + (mount->v2 ? "/memory.current" : "/memory.usage_in_bytes");
  auto usage = read_u64(out.usage_file);
  if (!usage) return usage.error();
  out.usage_bytes = *usage;
  // The tightest limit from the process's cgroup up to the mount's root.
  std::string cg = entry->path;
  for (;;) {
    auto dir = dir_of(cg);
    if (!dir) break;
    if (auto text = read_text(*dir + "/" + limit_file)) {
      auto lim = parse_limit(*text);
      if (lim && (!out.limit_bytes || *lim < *out.limit_bytes)) {
        out.limit_bytes = lim;
        out.limit_cgroup = cg;
      }
    }
    if (cg == "/" || cg.empty()) break;
    size_t slash = cg.rfind('/');
    cg = slash == 0 ? "/" : cg.substr(0, slash);
  }
  return out;
}

Result<uint64_t> read_usage(const MemoryLimit& m) { return read_u64(m.usage_file); }

}  // namespace leakhound::target
