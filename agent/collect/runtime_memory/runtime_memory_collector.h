// The Go runtime's own memory statistics at each poll (goruntime/memstats.h),
// with the process's RSS: where the RSS growth goes (report::RssBreakdown)
// and GOMEMLIMIT's forecast. Read-only: it never writes into the target.
// It contributes after the heap and native capabilities (the session's last),
// so the report's heap and native findings are there to be named.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "collect/capability.h"
#include "collect/go_target.h"
#include "collect/runtime_memory/rss_breakdown.h"
#include "goruntime/memstats.h"
#include "target/memory.h"

namespace leakhound::collect {

// Registration (collect/session.cpp): the Go runtime's own memory statistics
// (read-only). Never an error: rss.why_not and a note say why not.
Result<std::unique_ptr<Capability>> open_runtime_memory(OpenContext& ctx, report::Report& r);

class RuntimeMemoryCollector final : public Capability {
 public:
  // Resolves the layout and the two globals; errors name what is missing.
  static Result<std::unique_ptr<RuntimeMemoryCollector>> start(const GoTarget& t,
                                                               const target::MemoryReader& mem);
  // Over a layout and addresses already resolved (tests: the runtime's
  // statistics in fake memory, a fake RSS and CLOCK_MONOTONIC in ns). The
  // first poll is the caller's.
  static std::unique_ptr<RuntimeMemoryCollector> over(const target::MemoryReader& mem,
                                                      const goruntime::MemStatsLayout& layout,
                                                      uint64_t memstats, uint64_t gc_controller,
                                                      std::function<Result<uint64_t>()> read_rss,
                                                      std::function<int64_t()> now_ns);
  std::string_view name() const override { return "runtime_memory"; }
  // A read can race a rotation of the runtime's heap-stat deltas now and then.
  spdlog::level::level_enum poll_error_level() const override { return spdlog::level::debug; }
  Result<void> poll() override;
  void trim(double keep_s) override;
  void contribute(report::Report& r) override;
  void stop(report::Report& r) override { contribute(r); }  // holds nothing in the target

 private:
  RuntimeMemoryCollector(const target::MemoryReader& mem,
                         std::function<Result<uint64_t>()> read_rss,
                         std::function<int64_t()> now_ns)
      : mem_(mem), read_rss_(std::move(read_rss)), now_ns_(std::move(now_ns)) {}
  const target::MemoryReader& mem_;
  std::function<Result<uint64_t>()> read_rss_;  // the process's RSS, bytes
  std::function<int64_t()> now_ns_;
  goruntime::MemStatsLayout layout_;
  std::string source_;
  uint64_t memstats_ = 0, gc_controller_ = 0;  // runtime addresses
  int64_t start_ns_ = 0;
  std::vector<RuntimeMemReading> readings_;
};

}  // namespace leakhound::collect
