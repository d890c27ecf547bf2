// What holds the leaking objects: for each heap finding judged leak or
// growing, the paths from a root (a global, or the stack of a goroutine not
// running) to its sampled objects, found by the
// retention walk (goruntime/heap_walk.h) at each contribution, read from
// outside without stopping the target. Read-only: it never writes into the
// target, so it runs under --read-only too. Go 1.21+ (1.21: the arenas'
// pointer bitmaps; 1.22+: allocation headers).
// It contributes after the heap capability, whose findings it explains.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "collect/capability.h"
#include "collect/go_target.h"
#include "goruntime/goroutines.h"
#include "goruntime/heap_layout.h"
#include "goruntime/heap_walk.h"
#include "target/memory.h"

namespace leakhound::collect {

struct RetentionOptions {
  bool enabled = false;  // --retainers
  goruntime::WalkBudget budget;
  size_t max_paths = 3;  // per finding
};

// Registration (collect/session.cpp): what holds the heap findings' objects
// (--retainers; read-only). Never an error: retention_walk.why_not and a note
// say why not.
Result<std::unique_ptr<Capability>> open_retention(OpenContext& ctx, report::Report& r);

class RetentionCollector final : public Capability {
 public:
  // Errors (a report note) on Go < 1.21 and when the heap cannot be found.
  static Result<std::unique_ptr<RetentionCollector>> start(const GoTarget& t,
                                                           const target::MemoryReader& mem,
                                                           const RetentionOptions& opts);
  // Over a heap layout and runtime addresses already resolved (start's, or a
  // test's fake heap): runtime.mheap_ and the first moduledata.
  static std::unique_ptr<RetentionCollector> over(const GoTarget& t,
                                                  const target::MemoryReader& mem,
                                                  const RetentionOptions& opts,
                                                  const goruntime::HeapLayout& layout,
                                                  std::string layout_source, uint64_t mheap,
                                                  uint64_t moduledata);
  std::string_view name() const override { return "retention"; }
  Result<void> poll() override { return {}; }
  void trim(double) override {}
  void contribute(report::Report& r) override;
  void stop(report::Report& r) override { contribute(r); }  // holds nothing in the target

  // The name of a global's word (runtime address): its symbol, else the
  // section and offset ("main.sessions", "main.cache+0x8", ".bss+0x1f0").
  std::string global_name(uint64_t addr) const;

 private:
  struct StackRoots;  // the goroutines whose stacks were roots, and their frames
  // Adds the stacks of the goroutines not running to roots; fills the walk's
  // coverage of them.
  StackRoots stack_roots(goruntime::WalkRoots& roots, report::RetentionWalk& w) const;
  std::string function_at(uint64_t pc) const;  // a frame's physical function
  RetentionCollector(const GoTarget& t, const target::MemoryReader& mem, RetentionOptions opts)
      : t_(t), mem_(mem), opts_(opts) {}
  const GoTarget& t_;
  const target::MemoryReader& mem_;
  RetentionOptions opts_;
  goruntime::HeapLayout layout_;
  std::string layout_source_;
  uint64_t mheap_ = 0, moduledata_ = 0;                           // runtime addresses
  std::map<uint64_t, std::pair<uint64_t, std::string>> globals_;  // link address → size, name
  std::optional<goruntime::GoroutineReader> goroutines_;          // none: stacks are not roots
  std::string stacks_why_not_;
};

}  // namespace leakhound::collect
