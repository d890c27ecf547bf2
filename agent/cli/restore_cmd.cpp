// `leakhound restore PID`: undoes what a leakhound that could not exit cleanly
// (SIGKILL, a crash, the node's OOM killer) left in a target: the heap
// sampler rate it switched on, a goroutine leak check it asked the runtime
// for that no GC cycle has taken up yet, and the tracebackancestors setting of
// --goroutine-ancestry. BPF probes need no undoing: the kernel removes them
// with the last file descriptor of the process that attached them.
#include <functional>
#include <iostream>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "collect/go_target.h"
#include "goruntime/ancestry.h"
#include "goruntime/leak_check.h"
#include "goruntime/runtime_symbols.h"
#include "goruntime/sampler.h"
#include "goruntime/write_journal.h"
#include "target/memory.h"
#include "target/process.h"
#include "util/capabilities.h"

namespace leakhound::cli {
namespace {

// A journal entry of an earlier process with this PID: that process exited
// (with it, everything leakhound had changed) and the PID now names another
// program, which must not be written into. The entry is removed: it describes
// nothing any more.
Result<void> check_not_reused(pid_t pid) {
  auto rec = goruntime::load_record(pid);
  if (!rec) return {};
  auto proc = target::Process::open(pid);
  if (!proc || proc->start_time() == rec->start_time) return {};  // gone: open says so
  goruntime::remove_record(pid, rec->start_time);
  return make_error(
      "PID {} ({}) is not the process whose heap sampler a killed leakhound left on: that one "
      "exited and its PID was reused; nothing written (stale journal entry removed)",
      pid, proc->exe_path());
}

// A journaled write other than the sampler's (which SamplerControl restores
// with its linker fallback): where the binary says the value lives, how to
// undo it, and what to tell the user.
struct JournaledSetting {
  goruntime::WriteKind kind;
  std::string_view what;  // for errors: "goroutine leak check flag"
  // The runtime-relative address the binary has the value at.
  std::function<Result<uint64_t>(const collect::GoTarget&)> locate;
  // true when undone, false when the program or the runtime changed it since.
  std::function<Result<bool>(const target::ProcessMemory&, const goruntime::JournaledWrite&)> undo;
  std::function<std::string(pid_t, const goruntime::JournaledWrite&, bool undone)> said;
};

// The journal's address is trusted only if the binary says the value is
// there: a journal from another build must not steer a write.
Result<void> restore_setting(const collect::GoTarget& g, const target::ProcessMemory& mem,
                             const goruntime::JournalRecord& rec, const JournaledSetting& s) {
  const goruntime::JournaledWrite* w = rec.find(s.kind);
  if (!w) return {};
  auto at = s.locate(g);
  if (!at) return at.error();
  if (g.runtime_addr(*at) != w->addr)
    return make_error(
        "the journal's {} ({:#x}) is not where the binary has it ({:#x}): nothing "
        "written",
        s.what, w->addr, g.runtime_addr(*at));
  auto undone = s.undo(mem, *w);
  if (!undone) return undone.error();
  goruntime::journal_forget(g.proc.pid(), g.proc.start_time(), s.kind);
  std::cout << s.said(g.proc.pid(), *w, *undone);
  return {};
}

const JournaledSetting kSettings[] = {
    // A leak check request no GC cycle took up is withdrawn; one taken up
    // leaves nothing to undo (the detector's statuses are the runtime's own
    // bookkeeping, reset by its next detection).
    {goruntime::WriteKind::GoroutineLeakPending, "goroutine leak check flag",
     [](const collect::GoTarget& g) -> Result<uint64_t> {
       if (!g.g_layout) return make_error("{}", g.g_layout_error);
       return goruntime::resolve_goroutine_leak_pending(g.elf, g.pclntab,
                                                        g.g_layout->layout.leak_pending);
     },
     [](const target::ProcessMemory& mem, const goruntime::JournaledWrite& w) {
       return goruntime::undo_goroutine_leak_request(mem, w.addr);
     },
     [](pid_t pid, const goruntime::JournaledWrite&, bool undone) {
       return undone ? fmt::format(
                           "PID {}: goroutine leak check request withdrawn (a leakhound "
                           "that did not exit cleanly had asked the runtime for one, and "
                           "no GC cycle had taken it up)\n",
                           pid)
                     : fmt::format(
                           "PID {}: goroutine leak check request already taken up by a GC "
                           "cycle: nothing to undo\n",
                           pid);
     }},
    // --goroutine-ancestry: the program's own tracebackancestors back if ours
    // is still in place (the program may have set its own since).
    {goruntime::WriteKind::TracebackAncestors, "tracebackancestors",
     [](const collect::GoTarget& g) {
       return goruntime::resolve_traceback_ancestors(g.elf, g.pclntab);
     },
     [](const target::ProcessMemory& mem, const goruntime::JournaledWrite& w) {
       return goruntime::undo_traceback_ancestors(mem, w.addr, static_cast<int32_t>(w.original),
                                                  static_cast<int32_t>(w.written));
     },
     [](pid_t pid, const goruntime::JournaledWrite& w, bool undone) {
       return undone ? fmt::format(
                           "PID {}: tracebackancestors {} -> {} (restored the program's "
                           "own value; a leakhound that did not exit cleanly had set it "
                           "for --goroutine-ancestry)\n",
                           pid, w.written, w.original)
                     : fmt::format(
                           "PID {}: tracebackancestors was changed by the program since: "
                           "left as it is\n",
                           pid);
     }},
};

int run(pid_t pid) {
  if (auto p = check_attach_privileges(); !p) {
    std::cerr << "leakhound: " << p.error().message << "\n";
    return 1;
  }
  if (auto r = check_not_reused(pid); !r) {
    std::cerr << "leakhound: " << r.error().message << "\n";
    return 1;
  }
  auto t = collect::open_go_target(pid);
  if (!t) {
    std::cerr << "leakhound: " << t.error().message << "\n";
    return 1;
  }
  const collect::GoTarget& g = **t;
  auto mem = target::ProcessMemory::open(pid, /*writable=*/true);
  if (!mem) {
    std::cerr << "leakhound: " << mem.error().message << "\n";
    return 1;
  }
  if (auto rec = goruntime::load_record(pid, g.proc.start_time())) {
    for (const JournaledSetting& setting : kSettings) {
      if (auto r = restore_setting(g, *mem, *rec, setting); !r) {
        std::cerr << "leakhound: " << r.error().message << "\n";
        return 1;
      }
    }
  }
  auto s = goruntime::SamplerControl::open(g.proc, *mem, g.runtime_addr(g.syms.mem_profile_rate),
                                           g.runtime_addr(g.syms.disable_memory_profiling));
  if (!s) {
    std::cerr << "leakhound: " << s.error().message << "\n";
    return 1;
  }
  if (s->left_over()) {
    const int64_t left = s->written(), original = s->original_rate();
    if (auto r = s->restore(); !r) {
      std::cerr << "leakhound: " << r.error().message << "\n";
      return 1;
    }
    std::cout << fmt::format(
        "PID {}: MemProfileRate {} -> {} (restored the program's own value; a leakhound that did "
        "not exit cleanly had switched the heap sampler on)\n",
        pid, left, original);
    return 0;
  }
  auto cur = s->current_rate();
  if (!cur) {
    std::cerr << "leakhound: " << cur.error().message << "\n";
    return 1;
  }
  if (s->linker_disabled() && *cur != 0) {
    // No journal (another state directory, or it was deleted), but the
    // program cannot have switched on a sampler whose profile it never reads.
    if (auto w = mem->write_value<int64_t>(g.runtime_addr(g.syms.mem_profile_rate), 0); !w) {
      std::cerr << "leakhound: " << w.error().message << "\n";
      return 1;
    }
    goruntime::remove_record(pid, g.proc.start_time());
    std::cout << fmt::format(
        "PID {}: MemProfileRate {} -> 0 (the program never reads its heap profile: the linker "
        "had switched the sampler off)\n",
        pid, *cur);
    return 0;
  }
  std::cout << fmt::format("PID {}: nothing to restore (MemProfileRate={} is the program's own)\n",
                           pid, *cur);
  return 0;
}

}  // namespace

Runner add_restore(CLI::App& app, const GlobalOptions&) {
  auto pid = std::make_shared<pid_t>(0);
  app.add_option("pid", *pid, "process to restore")->required()->check(CLI::PositiveNumber);
  return [pid] { return run(*pid); };
}

}  // namespace leakhound::cli
