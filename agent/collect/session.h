// One monitored process: opens the target, starts every capability
// (collect/capability.h), drives them all with the same verbs, and assembles
// their contributions into reports. `attach` runs one session for a fixed
// window; the daemon keeps one per process for as long as it lives.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <vector>

#include "binary/elf_file.h"
#include "binary/executable_cache.h"
#include "collect/goroutines/goroutine_collector.h"
#include "collect/heap/heap_collector.h"
#include "collect/native/native_collector.h"
#include "collect/process/process_collector.h"
#include "collect/report_assembly.h"
#include "collect/retention/retention_collector.h"
#include "collect/runtime_memory/runtime_memory_collector.h"
#include "goruntime/g_layout_cache.h"
#include "report/model.h"
#include "target/memory.h"
#include "util/result.h"

namespace leakhound::collect {

struct SessionOptions {
  pid_t pid = 0;
  bool read_only = false;
  HeapOptions heap;
  GoroutineOptions goroutines;
  // --goroutine-ancestry: the runtime keeps creators' stacks while we watch.
  bool goroutine_ancestry = false;
  NativeOptions native;
  ProcessOptions process;
  RetentionOptions retention;
  AssemblyOptions assembly;
  // The daemon's: runtime.g layouts per executable, or null (read each time).
  goruntime::GLayoutCache* g_layouts = nullptr;
  // The daemon's: executables shared by their processes, or null.
  binary::ExecutableCache* executables = nullptr;
};

// What a capability's open function sees (collect/capability.h): the
// options, and the target as the session read it once.
struct OpenContext {
  const SessionOptions& opts;
  const target::Process& proc;
  const GoTarget* go;  // null: a C/C++ program
  // Writable for a Go target unless --read-only.
  const target::ProcessMemory& mem;
  // The C allocator (native tracking), found before anything was written
  // into the target; moved out by the native capability.
  std::optional<Allocator> allocator;
  // A capability that cannot start is an error, never a why_not: the
  // daemon's budget resuming what it shed must know.
  bool required = false;
};

class Session {
 public:
  // Errors only when nothing can be gathered (bad PID, no permission, neither
  // a Go program nor a process with a C allocator to trace); a missing extra
  // capability becomes a note in the report.
  static Result<std::unique_ptr<Session>> open(const SessionOptions& opts);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // One poll of every capability. False once the target has exited.
  bool poll();
  // Findings over the series gathered so far; every capability keeps running.
  report::Report snapshot();
  // Findings at the end of the collection; stops every capability in detach
  // order (native probes first, the heap sampler restored last). Later calls
  // return the same final report.
  report::Report finish();
  // Asks the Go runtime (1.26+) for one goroutine leak detection now, when
  // the session may (SessionOptions::goroutines.proof). Returns whether it did.
  bool request_leak_check();
  // Drops series points older than keep_s seconds (the daemon's rolling window).
  void trim(double keep_s);
  // The daemon's memory budget: native tracking stopped (probes detached,
  // tables and symbolizer freed; the reports say why) and started again.
  bool native_running() const;
  void stop_native(const std::string& why);
  Result<void> resume_native();

  bool is_go() const { return go_ != nullptr; }
  const GoTarget* go() const { return go_.get(); }
  const target::Process& process() const { return go_ ? go_->proc : *c_proc_; }
  bool exited() const { return exited_; }
  double elapsed_s() const;

 private:
  Session() = default;
  report::Report build(bool final);

  SessionOptions opts_;
  std::unique_ptr<GoTarget> go_;
  std::optional<target::Process> c_proc_;  // a C/C++ program's process
  std::optional<binary::ElfFile> c_exe_;
  std::optional<target::ProcessMemory> mem_;
  report::Report base_;  // target, notes and settings gathered at open
  // In detach order (collect/session.cpp's table).
  std::vector<std::unique_ptr<Capability>> caps_;
  std::chrono::steady_clock::time_point start_;
  bool exited_ = false;
  std::optional<report::Report> final_;
};

}  // namespace leakhound::collect
