// One monitored process: opens the target, starts every capability's
// collector, polls them, and builds reports. `attach` runs one session for a
// fixed window; the daemon keeps one per process for as long as it lives.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>

#include "binary/elf_file.h"
#include "binary/executable_cache.h"
#include "collect/goroutine_collector.h"
#include "collect/heap_collector.h"
#include "collect/native_collector.h"
#include "collect/process_collector.h"
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
  NativeOptions native;
  ProcessOptions process;
  // The daemon's: runtime.g layouts per executable, or null (read each time).
  goruntime::GLayoutCache* g_layouts = nullptr;
  // The daemon's: executables shared by their processes, or null.
  binary::ExecutableCache* executables = nullptr;
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

  // One poll of every collector. False once the target has exited.
  bool poll();
  // Findings over the series gathered so far; the collectors keep running.
  report::Report snapshot();
  // Findings at the end of the collection; detaches everything (native probes
  // first, then the heap sampler is restored).
  report::Report finish();
  // Drops series points older than keep_s seconds (the daemon's rolling window).
  void trim(double keep_s);

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
  std::unique_ptr<HeapCollector> heap_;
  std::unique_ptr<NativeCollector> native_;
  std::unique_ptr<GoroutineCollector> goroutines_;
  std::unique_ptr<ProcessCollector> process_;
  std::chrono::steady_clock::time_point start_;
  bool exited_ = false;
  bool finished_ = false;
};

}  // namespace leakhound::collect
