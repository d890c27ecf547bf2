#include "goruntime/write_journal.h"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

#include "target/process.h"

namespace leakhound::goruntime {
namespace {

// File format, one line each:
//   leakhound-writes 1 PID START_TIME
//   KIND ADDR WIDTH ORIGINAL WRITTEN     (one per write)
constexpr std::string_view kMagic = "leakhound-writes";
constexpr std::string_view kPrefix = "writes-";

// Entries of one process are read, changed and rewritten as a whole: writers
// within this leakhound take turns (the heap sampler and the goroutine check
// of one session, sessions of the daemon).
std::mutex g_mu;

std::string path_for(pid_t pid) { return fmt::format("{}/{}{}", journal_dir(), kPrefix, pid); }

std::optional<WriteKind> kind_from(std::string_view s) {
  for (WriteKind k :
       {WriteKind::MemProfileRate, WriteKind::GoroutineLeakPending, WriteKind::TracebackAncestors})
    if (to_string(k) == s) return k;
  return std::nullopt;
}

Result<void> save(const JournalRecord& r) {
  const std::string dir = journal_dir();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return errno_error(errno, "cannot create {}", dir);
  const std::string path = path_for(r.pid), tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << fmt::format("{} 1 {} {}\n", kMagic, r.pid, r.start_time);
    for (const JournaledWrite& w : r.writes)
      f << fmt::format("{} {} {} {} {}\n", to_string(w.kind), w.addr, w.width, w.original,
                       w.written);
    if (!f.flush()) return errno_error(errno, "cannot write {}", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return errno_error(errno, "cannot write {}", path);
  return {};
}

std::optional<JournalRecord> load_unlocked(pid_t pid) {
  auto text = target::read_text(path_for(pid));
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string magic;
  int version = 0;
  JournalRecord r;
  if (!(in >> magic >> version >> r.pid >> r.start_time) || magic != kMagic || version != 1 ||
      r.pid != pid)
    return std::nullopt;
  std::string kind;
  JournaledWrite w;
  unsigned width = 0;
  while (in >> kind >> w.addr >> width >> w.original >> w.written) {
    auto k = kind_from(kind);
    if (!k || width == 0 || width > 8) return std::nullopt;  // not ours to guess at
    w.kind = *k;
    w.width = static_cast<uint8_t>(width);
    r.writes.push_back(w);
  }
  if (!in.eof()) return std::nullopt;
  return r;
}

}  // namespace

std::string_view to_string(WriteKind k) {
  switch (k) {
    case WriteKind::MemProfileRate:
      return "mem_profile_rate";
    case WriteKind::GoroutineLeakPending:
      return "goroutine_leak_pending";
    case WriteKind::TracebackAncestors:
      return "traceback_ancestors";
  }
  return "unknown";
}

const JournaledWrite* JournalRecord::find(WriteKind k) const {
  for (const JournaledWrite& w : writes)
    if (w.kind == k) return &w;
  return nullptr;
}

std::string journal_dir() {
  if (const char* d = std::getenv("LEAKHOUND_STATE_DIR"); d && *d) return d;
  return "/run/leakhound";
}

Result<void> journal_write(pid_t pid, uint64_t start_time, const JournaledWrite& w) {
  std::lock_guard lock(g_mu);
  auto r = load_unlocked(pid);
  if (!r || r->start_time != start_time) r = JournalRecord{pid, start_time, {}};
  std::erase_if(r->writes, [&](const JournaledWrite& o) { return o.kind == w.kind; });
  r->writes.push_back(w);
  return save(*r);
}

void journal_forget(pid_t pid, uint64_t start_time, WriteKind k) {
  std::lock_guard lock(g_mu);
  auto r = load_unlocked(pid);
  if (!r) {
    ::unlink(path_for(pid).c_str());  // unreadable: describes nothing we can use
    return;
  }
  if (r->start_time != start_time) return;
  std::erase_if(r->writes, [&](const JournaledWrite& o) { return o.kind == k; });
  if (r->writes.empty() || !save(*r)) ::unlink(path_for(pid).c_str());
}

std::optional<JournalRecord> load_record(pid_t pid) {
  std::lock_guard lock(g_mu);
  return load_unlocked(pid);
}

std::optional<JournalRecord> load_record(pid_t pid, uint64_t start_time) {
  auto r = load_record(pid);
  if (!r || r->start_time != start_time) return std::nullopt;  // PID reused
  return r;
}

void remove_record(pid_t pid, uint64_t start_time) {
  std::lock_guard lock(g_mu);
  if (auto r = load_unlocked(pid); r && r->start_time != start_time) return;
  ::unlink(path_for(pid).c_str());
}

size_t prune_records() {
  DIR* d = ::opendir(journal_dir().c_str());
  if (!d) return 0;
  std::vector<pid_t> pids;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind(kPrefix, 0) != 0) continue;
    char* end = nullptr;
    long v = std::strtol(name.c_str() + kPrefix.size(), &end, 10);
    if (end && *end == 0 && v > 0) pids.push_back(static_cast<pid_t>(v));
  }
  ::closedir(d);
  size_t removed = 0;
  std::lock_guard lock(g_mu);
  for (pid_t pid : pids) {
    auto r = load_unlocked(pid);
    if (!r) continue;  // unreadable: restore says so; not ours to judge
    auto now = target::read_start_time(pid);
    if (now && *now == r->start_time) continue;  // still there: restore needs it
    ::unlink(path_for(pid).c_str());
    ++removed;
  }
  return removed;
}

}  // namespace leakhound::goruntime
