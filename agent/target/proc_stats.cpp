#include "target/proc_stats.h"

#include <dirent.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <sstream>
#include <string>

#include "target/process.h"

namespace leakhound::target {

std::string_view to_string(FdKind k) {
  switch (k) {
    case FdKind::File:
      return "file";
    case FdKind::Socket:
      return "socket";
    case FdKind::Pipe:
      return "pipe";
    case FdKind::Anon:
      return "anon";
    case FdKind::Other:
      break;
  }
  return "other";
}

FdKind classify_fd_link(std::string_view link) {
  if (link.starts_with("socket:[")) return FdKind::Socket;
  if (link.starts_with("pipe:[")) return FdKind::Pipe;
  if (link.starts_with("anon_inode:")) return FdKind::Anon;
  if (link.starts_with("/")) return FdKind::File;  // files, devices, memfd:, "(deleted)"
  return FdKind::Other;                            // net:[...], mnt:[...], ...
}

uint64_t& FdCounts::operator[](FdKind k) {
  switch (k) {
    case FdKind::File:
      return file;
    case FdKind::Socket:
      return socket;
    case FdKind::Pipe:
      return pipe;
    case FdKind::Anon:
      return anon;
    case FdKind::Other:
      break;
  }
  return other;
}

Result<FdCounts> count_fds(pid_t pid) {
  std::string dir = fmt::format("/proc/{}/fd", pid);
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) return errno_error(errno, "cannot list {}", dir);
  FdCounts c;
  char buf[512];
  while (dirent* e = ::readdir(d.get())) {
    if (e->d_name[0] == '.') continue;
    ssize_t n = ::readlinkat(::dirfd(d.get()), e->d_name, buf, sizeof buf);
    if (n < 0) continue;  // closed meanwhile
    c[classify_fd_link(std::string_view(buf, static_cast<size_t>(n)))]++;
  }
  return c;
}

Result<uint64_t> parse_threads(std::string_view text) {
  size_t pos = text.find("\nThreads:");
  if (pos == std::string_view::npos) return make_error("no Threads: line in /proc/PID/status");
  std::string_view rest = text.substr(pos + 9);
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
  if (ec != std::errc() || p == rest.data() || (p != rest.data() + rest.size() && *p != '\n'))
    return make_error("malformed Threads: line in /proc/PID/status");
  return v;
}

Result<uint64_t> read_threads(pid_t pid) {
  auto text = read_text(fmt::format("/proc/{}/status", pid));
  if (!text) return text.error();
  return parse_threads(*text);
}

Result<uint64_t> read_rss_bytes(pid_t pid) {
  auto text = read_text(fmt::format("/proc/{}/statm", pid));
  if (!text) return text.error();
  std::istringstream in(*text);
  uint64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return make_error("malformed /proc/{}/statm", pid);
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

namespace {

bool parse_hex(std::string_view s, uint64_t& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

}  // namespace

Result<std::vector<MappingRss>> parse_smaps_rss(std::string_view text) {
  std::vector<MappingRss> out;
  bool have_rss = true;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty()) continue;
    const std::string_view first = line.substr(0, line.find(' '));
    if (first.back() != ':') {  // a mapping's header: start-end perms offset dev inode path
      const size_t dash = first.find('-');
      MappingRss m;
      if (dash == std::string_view::npos || !parse_hex(first.substr(0, dash), m.start) ||
          !parse_hex(first.substr(dash + 1), m.end))
        return make_error("malformed /proc/PID/smaps line: {}", line);
      if (!have_rss) return make_error("no Rss: line for a mapping in /proc/PID/smaps");
      out.push_back(m);
      have_rss = false;
      continue;
    }
    if (first != "Rss:" || out.empty()) continue;
    std::string_view v = line.substr(first.size());
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    uint64_t kb = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), kb);
    if (ec != std::errc() || std::string_view(p, v.data() + v.size()) != " kB")
      return make_error("malformed /proc/PID/smaps line: {}", line);
    out.back().rss = kb * 1024;
    have_rss = true;
  }
  if (!have_rss) return make_error("no Rss: line for a mapping in /proc/PID/smaps");
  return out;
}

Result<std::vector<MappingRss>> read_smaps_rss(pid_t pid) {
  auto text = read_text(fmt::format("/proc/{}/smaps", pid));
  if (!text) return text.error();
  return parse_smaps_rss(*text);
}

}  // namespace leakhound::target
