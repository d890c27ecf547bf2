// Loader for bpf/native.bpf.c: uprobes on a process's C allocator (malloc
// family, free, anonymous mmap/munmap) and uretprobes on its allocating
// functions, recording every outstanding block with its stack.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "leakhound/abi/native.h"
#include "probes/bpf_link.h"
#include "util/result.h"

struct native;  // the generated skeleton

namespace leakhound::probes {

static_assert(sizeof(lh_native_config) == 48);
static_assert(sizeof(lh_native_pending) == 24);
static_assert(sizeof(lh_alloc_key) == 16);
static_assert(sizeof(lh_alloc) == 40);
static_assert(sizeof(lh_c_stack) == 8 + 8 * LH_NATIVE_C_FRAMES);
static_assert(sizeof(lh_go_stack) == 8 + 8 * LH_NATIVE_GO_FRAMES);
static_assert(sizeof(lh_native_stack_key) == 24);
static_assert(sizeof(lh_native_stack_total) == 16);

// One allocator entry point in the object that defines it.
struct AllocatorFunction {
  std::string name;             // "malloc", "free", "mmap", ...
  uint64_t offset = 0;          // file offset of its entry
  bool emulated_entry = false;  // its first instruction is emulated by the kernel (cheaper hit)
};

struct NativeProbeConfig {
  int pid = -1;
  std::string binary;  // the object defining the allocator (through /proc/PID/root)
  std::vector<AllocatorFunction> functions;
  lh_native_config process{};  // Go attribution and mmap tracking for pid
  uint32_t max_allocs = 262144;
  uint32_t max_stacks = 16384;
  uint32_t max_go_stacks = 16384;
};

struct OutstandingAlloc {
  uint64_t addr = 0;
  lh_alloc a{};
};

// What one stack has allocated since the probes went in.
struct StackTotal {
  uint64_t c_stack = 0, go_stack = 0;
  lh_native_stack_total total{};
};

// What the native capability reads from the probes: the tables, the
// counters, and the switch that takes the probes off. An interface so that
// the capability is tested without root against tables of the test's making.
class NativeTables {
 public:
  virtual ~NativeTables() = default;
  // Every block of process tgid still outstanding, read in batches.
  virtual Result<std::vector<OutstandingAlloc>> read_outstanding(uint32_t tgid) const = 0;
  // Every stack of process tgid with what it allocated so far (a stack that
  // found the table full is missing).
  virtual Result<std::vector<StackTotal>> read_totals(uint32_t tgid) const = 0;
  // The C return addresses of a stack id (leaf first); empty when gone.
  virtual std::vector<uint64_t> c_stack(uint64_t key) const = 0;
  // The Go return addresses of a stack key (leaf first); empty when gone.
  virtual std::vector<uint64_t> go_stack(uint64_t key) const = 0;
  // lh_native_counter values, summed over CPUs (LH_NATIVE_COUNTER_MAX of them).
  virtual std::vector<uint64_t> counters() const = 0;
  // Removes the probes; the tables stay readable (stacks for the report).
  virtual void detach() = 0;
};

class NativeProbes final : public NativeTables {
 public:
  // Names the probes know, in the order they are attached.
  static const std::vector<std::string>& function_names();
  static Result<NativeProbes> attach(const NativeProbeConfig& cfg);

  NativeProbes(NativeProbes&&) noexcept;
  NativeProbes& operator=(NativeProbes&&) noexcept;
  ~NativeProbes() override;

  Result<std::vector<OutstandingAlloc>> read_outstanding(uint32_t tgid) const override;
  Result<std::vector<StackTotal>> read_totals(uint32_t tgid) const override;
  std::vector<uint64_t> c_stack(uint64_t key) const override;
  std::vector<uint64_t> go_stack(uint64_t key) const override;
  std::vector<uint64_t> counters() const override;
  void detach() override;
  size_t probe_count() const { return probes_; }
  // When the entry probes went in (util unix_us): a call entered before
  // `first` was not traced, one entered after `last` is.
  struct Span {
    int64_t first = 0, last = 0;
  };
  Span entries_attached_unix_us() const { return entries_; }

 private:
  NativeProbes() = default;
  struct SkelDeleter {
    void operator()(native* s) const;
  };
  std::unique_ptr<native, SkelDeleter> skel_;
  std::vector<Link> links_;  // destroyed before the skeleton (declared after)
  size_t probes_ = 0;
  Span entries_;
};

}  // namespace leakhound::probes
