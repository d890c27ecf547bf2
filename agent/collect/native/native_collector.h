// Native capability: C allocations (libc malloc family, anonymous mmap) made
// during the window and still outstanding, per stack; for allocations made
// from Go through cgo, the stack continues with the goroutine's Go frames.
// Works for Go programs (cgo) and for C/C++ programs alike.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "binary/elf_file.h"
#include "collect/capability.h"
#include "collect/go_target.h"
#include "collect/native/allocator_resident.h"
#include "detect/trend.h"
#include "probes/native_probes.h"
#include "report/model.h"
#include "target/native_symbolizer.h"
#include "target/process.h"

namespace leakhound::collect {

struct NativeOptions {
  enum class Mode { Auto, On, Off };
  Mode mode = Mode::Auto;  // Auto: on when the process has a C allocator (not pure Go)
  bool track_mmap = true;
  uint32_t max_allocs = 262144;  // outstanding table (BPF hash map) entries
  uint32_t max_stacks = 16384;
  detect::TrendConfig trend;
  double min_growth_bytes = 16 * 1024;  // less growth over the window is never a leak
  // Auto mode: the probes come off when the target spends more than this
  // share of a CPU in them (call rate x measured cost per hit).
  double max_cpu_share = 0.25;
};

// The object whose allocator a process uses, and its entry points.
struct Allocator {
  std::string path;       // as mapped in the process (for the report)
  std::string open_path;  // through /proc/PID/root (containers), what uprobes attach to
  bool is_exe = false;    // static, or the program brings its own allocator
  std::vector<probes::AllocatorFunction> functions;
};

// Finds the allocator of a running process: the executable (exe, already
// opened by the caller) if it defines malloc (static libc, own allocator),
// else a preloaded allocator library, else libc (glibc or musl). Error: none
// (a pure Go program).
Result<Allocator> find_allocator(const target::Process& proc, const binary::ElfFile& exe);

// Registration (collect/session.cpp): C allocations, when the session found
// an allocator. An error only when asked for (--native) or when the target is
// not Go (then it is all there is); else native_stats.why_not says why not.
Result<std::unique_ptr<Capability>> open_native(OpenContext& ctx, report::Report& r);

class NativeCollector final : public Capability {
 public:
  // go: the Go program's knowledge when the target is Go (cgo attribution),
  // else null; allocator: find_allocator's answer.
  static Result<std::unique_ptr<NativeCollector>> start(const target::Process& proc,
                                                        const GoTarget* go, Allocator allocator,
                                                        const NativeOptions& opts,
                                                        report::Report& r);
  // Over tables already in place (tests: fake tables and clock), with no
  // probe cost measured. The first poll is the caller's.
  static std::unique_ptr<NativeCollector> over(const target::Process& proc, const GoTarget* go,
                                               const NativeOptions& opts,
                                               std::unique_ptr<probes::NativeTables> tables,
                                               std::function<int64_t()> now_ns);

  std::string_view name() const override { return "native"; }
  // One series point: outstanding bytes per stack now.
  Result<void> poll() override;
  void trim(double keep_s) override;
  // Native findings and statistics over the points held; the probes stay.
  void contribute(report::Report& r) override;
  // A last point, the findings, then the probes are detached.
  void stop(report::Report& r) override;

 private:
  struct Key {
    uint64_t c_stack = 0;  // keys in the BPF stack tables, 0: none
    uint64_t go_stack = 0;
    // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
    auto operator<=>(const Key&) const = default;
  };
  struct Sample {
    uint32_t poll = 0;
    uint64_t bytes = 0, objects = 0;
  };
  struct Track {
    std::vector<Sample> samples;  // polls where the stack had blocks outstanding
    uint64_t oldest_ns = 0;       // at the last of them
    // Bytes allocated since attach, from the poll where the total changed
    // (while the window starts at attach); empty when unknown.
    std::vector<std::pair<uint32_t, uint64_t>> allocated;
  };
  NativeCollector(const target::Process& proc, const GoTarget* go, NativeOptions opts,
                  std::function<int64_t()> now_ns)
      : proc_(proc), go_(go), opts_(opts), now_ns_(std::move(now_ns)) {}
  void measure_resident(const std::vector<probes::OutstandingAlloc>& blocks, double t);
  std::vector<Frame> symbolize(const Key& k, const std::vector<target::Mapping>& maps,
                               bool* go_attributed) const;

  const target::Process& proc_;
  const GoTarget* go_;
  NativeOptions opts_;
  std::function<int64_t()> now_ns_;  // CLOCK_MONOTONIC ns (the probes' clock)
  Allocator allocator_;
  std::unique_ptr<probes::NativeTables> probes_;
  // Opened at the first report and kept: it re-reads the mappings by itself.
  std::optional<target::NativeSymbolizer> symbolizer_;
  int64_t start_ns_ = 0;
  std::vector<double> times_;  // seconds since start, per poll
  AllocatorResident resident_;
  std::map<Key, Track> tracks_;
  // The window still starts at attach, and every poll read the per-stack
  // totals: stacks are judged fitted for their warm-up (detect/warmup.h).
  bool from_attach_ = true;
  uint64_t last_calls_ = 0;
  double last_t_ = 0;
  bool stopped_ = false;  // probes removed mid-window (over the CPU budget)
  std::string stop_note_;
  report::NativeStats stats_;
};

}  // namespace leakhound::collect
