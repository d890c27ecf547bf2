#include "target/process.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

namespace leakhound::target {

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return errno_error(errno, "cannot read {}", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

bool parse_hex(std::string_view s, uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_dec(std::string_view s, uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 10);
  return ec == std::errc() && p == s.data() + s.size();
}

// Splits off the next space-separated field.
std::string_view next_field(std::string_view& line) {
  size_t b = line.find_first_not_of(' ');
  if (b == std::string_view::npos) {
    line = {};
    return {};
  }
  line.remove_prefix(b);
  size_t e = line.find(' ');
  std::string_view f = line.substr(0, e);
  line.remove_prefix(e == std::string_view::npos ? line.size() : e);
  return f;
}

}  // namespace

Result<std::vector<Mapping>> parse_maps(const std::string& text) {
  std::vector<Mapping> out;
  std::istringstream in(text);
  std::string raw;
  size_t lineno = 0;
  while (std::getline(in, raw)) {
    lineno++;
    if (raw.empty()) continue;
    std::string_view line(raw);
    auto bad = [&] { return make_error("malformed maps line {}: '{}'", lineno, raw); };
    std::string_view range = next_field(line), perms = next_field(line), off = next_field(line),
                     dev = next_field(line), ino = next_field(line);
    Mapping m;
    size_t dash = range.find('-'), colon = dev.find(':');
    if (dash == std::string_view::npos || colon == std::string_view::npos || perms.size() < 4)
      return bad();
    if (!parse_hex(range.substr(0, dash), m.start) || !parse_hex(range.substr(dash + 1), m.end) ||
        !parse_hex(off, m.offset) || !parse_hex(dev.substr(0, colon), m.dev_major) ||
        !parse_hex(dev.substr(colon + 1), m.dev_minor) || !parse_dec(ino, m.inode) ||
        m.end < m.start)
      return bad();
    m.read = perms[0] == 'r';
    m.write = perms[1] == 'w';
    m.exec = perms[2] == 'x';
    size_t b = line.find_first_not_of(' ');
    if (b != std::string_view::npos) m.path = std::string(line.substr(b));
    out.push_back(std::move(m));
  }
  return out;
}

Result<uint64_t> read_start_time(pid_t pid) {
  auto stat = read_text(fmt::format("/proc/{}/stat", pid));
  if (!stat) return stat.error();
  // comm (field 2) may contain spaces and parens: parse after the last ')'.
  size_t rp = stat->rfind(')');
  if (rp == std::string::npos || rp + 2 >= stat->size())
    return make_error("malformed /proc/{}/stat", pid);
  std::istringstream in(stat->substr(rp + 2));
  std::string field;
  // Fields after comm start at 3 (state); starttime is field 22.
  for (int i = 3; i <= 22; i++) {
    if (!(in >> field)) return make_error("malformed /proc/{}/stat", pid);
    // A zombie has exited: its memory and mappings are gone.
    if (i == 3 && (field == "Z" || field == "X")) return make_error("PID {} has exited", pid);
  }
  uint64_t v = 0;
  if (!parse_dec(field, v)) return make_error("malformed /proc/{}/stat", pid);
  return v;
}

Result<Process> Process::open(pid_t pid) {
  if (pid <= 0) return make_error("invalid PID {}", pid);
  struct stat st {};
  std::string dir = fmt::format("/proc/{}", pid);
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return make_error("no process with PID {}", pid);
    return errno_error(errno, "cannot inspect PID {}", pid);
  }
  Process p;
  p.pid_ = pid;
  auto start = read_start_time(pid);
  if (!start) return make_error("no process with PID {}", pid);
  p.start_time_ = *start;
  char buf[4096];
  ssize_t n = ::readlink(p.exe_link().c_str(), buf, sizeof buf - 1);
  if (n < 0) {
    int err = errno;
    if (err == EACCES || err == EPERM)
      return make_error(
          "permission denied reading /proc/{}/exe: run leakhound as root (or with "
          "CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH)",
          pid);
    if (err == ENOENT) return make_error("PID {} has no executable (a kernel thread?)", pid);
    return errno_error(err, "cannot read /proc/{}/exe", pid);
  }
  p.exe_path_.assign(buf, static_cast<size_t>(n));
  struct stat est {};
  if (::stat(p.exe_link().c_str(), &est) == 0) {
    p.exe_dev_ = est.st_dev;
    p.exe_ino_ = est.st_ino;
  }
  return p;
}

std::string Process::exe_link() const { return fmt::format("/proc/{}/exe", pid_); }

bool Process::alive() const {
  auto st = read_start_time(pid_);
  if (!st || *st != start_time_) return false;
  // exec keeps the PID and the start time but replaces the whole image: the
  // addresses read at open mean nothing in the new program.
  struct stat est;
  if (exe_ino_ == 0) return true;
  if (::stat(exe_link().c_str(), &est) != 0) return errno == EACCES;
  return est.st_ino == exe_ino_ && est.st_dev == exe_dev_;
}

Result<std::vector<Mapping>> Process::maps() const {
  auto text = read_text(fmt::format("/proc/{}/maps", pid_));
  if (!text) return text.error();
  return parse_maps(*text);
}

Result<uint64_t> Process::exe_load_bias(uint64_t first_load_vaddr,
                                        uint64_t first_load_offset) const {
  auto ms = maps();
  if (!ms) return ms.error();
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  for (const Mapping& m : *ms) {
    bool same_file = exe_ino_ != 0
                         ? (m.inode == exe_ino_ && makedev(m.dev_major, m.dev_minor) == exe_dev_)
                         : m.path == exe_path_;
    if (!same_file) continue;
    if (m.offset != (first_load_offset & ~(page - 1))) continue;
    return m.start - (first_load_vaddr & ~(page - 1));
  }
  return make_error("cannot find the executable's mapping in /proc/{}/maps", pid_);
}

}  // namespace leakhound::target
