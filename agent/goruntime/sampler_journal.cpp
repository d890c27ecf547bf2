#include "goruntime/sampler_journal.h"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "target/process.h"

namespace leakhound::goruntime {
namespace {

std::string path_for(pid_t pid) { return fmt::format("{}/sampler-{}", journal_dir(), pid); }

}  // namespace

std::string journal_dir() {
  if (const char* d = std::getenv("LEAKHOUND_STATE_DIR"); d && *d) return d;
  return "/run/leakhound";
}

Result<void> save_record(const SamplerRecord& r) {
  const std::string dir = journal_dir();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return errno_error(errno, "cannot create {}", dir);
  // Write then rename: a record is either whole or absent.
  const std::string path = path_for(r.pid), tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << fmt::format("{} {} {} {} {}\n", r.pid, r.start_time, r.rate_addr, r.original, r.written);
    if (!f.flush()) return errno_error(errno, "cannot write {}", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return errno_error(errno, "cannot write {}", path);
  return {};
}

std::optional<SamplerRecord> load_record(pid_t pid) {
  auto text = target::read_text(path_for(pid));
  if (!text) return std::nullopt;
  SamplerRecord r;
  std::istringstream in(*text);
  if (!(in >> r.pid >> r.start_time >> r.rate_addr >> r.original >> r.written)) return std::nullopt;
  if (r.pid != pid) return std::nullopt;
  return r;
}

std::optional<SamplerRecord> load_record(pid_t pid, uint64_t start_time) {
  auto r = load_record(pid);
  if (!r || r->start_time != start_time) return std::nullopt;  // PID reused
  return r;
}

void remove_record(pid_t pid, uint64_t start_time) {
  if (auto r = load_record(pid); r && r->start_time != start_time) return;
  ::unlink(path_for(pid).c_str());
}

size_t prune_records() {
  DIR* d = ::opendir(journal_dir().c_str());
  if (!d) return 0;
  std::vector<pid_t> pids;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind("sampler-", 0) != 0) continue;
    char* end = nullptr;
    long v = std::strtol(name.c_str() + 8, &end, 10);
    if (end && *end == 0 && v > 0) pids.push_back(static_cast<pid_t>(v));
  }
  ::closedir(d);
  size_t removed = 0;
  for (pid_t pid : pids) {
    auto r = load_record(pid);
    if (!r) continue;  // unreadable: restore says so; not ours to judge
    auto now = target::read_start_time(pid);
    if (now && *now == r->start_time) continue;  // still there: restore needs it
    ::unlink(path_for(pid).c_str());
    ++removed;
  }
  return removed;
}

}  // namespace leakhound::goruntime
