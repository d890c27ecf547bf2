#include "report/rss_text.h"

#include <fmt/format.h>

#include "report/units.h"

namespace leakhound::report {

std::vector<std::string> rss_breakdown_lines(const RssBreakdown& b) {
  if (!b.read) {
    if (b.why_not.empty()) return {};
    return {"RSS breakdown: not available (" + b.why_not + ")"};
  }
  const std::string gogc = b.gogc < 0 ? "GOGC=off" : fmt::format("GOGC={}", b.gogc);
  const std::string limit =
      b.gomemlimit < 0 ? "" : ", GOMEMLIMIT=" + human_bytes(static_cast<double>(b.gomemlimit));
  std::vector<std::string> out;
  out.push_back(fmt::format(
      "RSS {}: Go heap live {}, GC headroom {} ({}{}), stacks {}, runtime metadata {}, native "
      "{}{}{}, unexplained {}",
      human_rate(b.rss_per_s), human_rate(b.heap_live_per_s), human_rate(b.gc_headroom_per_s), gogc,
      limit, human_rate(b.stacks_per_s), human_rate(b.metadata_per_s), human_rate(b.native_per_s),
      b.native_tracked ? "" : " (not tracked)",
      b.native_resident ? ", C allocator overhead " + human_rate(b.native_allocator_per_s) : "",
      human_rate(b.unexplained_per_s)));
  out.push_back(fmt::format(
      "  now: RSS {}, heap live {} (goal {}), heap in use {} + free {}, stacks {}, metadata {}{}; "
      "GC CPU {} since start ({:+.2f} points/min over the window)",
      human_bytes(static_cast<double>(b.rss_bytes)),
      human_bytes(static_cast<double>(b.heap_live_bytes)),
      human_bytes(static_cast<double>(b.heap_goal_bytes)),
      human_bytes(static_cast<double>(b.heap_inuse_bytes)),
      human_bytes(static_cast<double>(b.heap_free_bytes)),
      human_bytes(static_cast<double>(b.stacks_bytes)),
      human_bytes(static_cast<double>(b.metadata_bytes)),
      b.native_tracked
          ? ", native " + human_bytes(static_cast<double>(b.native_bytes)) +
                (b.native_resident
                     ? " (allocator resident " +
                           human_bytes(static_cast<double>(b.native_resident_bytes)) + ")"
                     : "")
          : "",
      percent(b.gc_cpu_fraction), b.gc_cpu_fraction_per_s * 100 * 60));
  if (b.rss_per_s > 0) {
    std::string top;
    if (!b.top_stack.empty()) {
      const Frame* f = &b.top_stack.front();
      for (const Frame& x : b.top_stack) {
        if (!is_runtime_frame(x)) {
          f = &x;
          break;
        }
      }
      top =
          fmt::format("; most of it: {} ({}:{}) {} live, {} of the RSS growth", f->function,
                      f->file, f->line, human_rate(b.top_stack_per_s), percent(b.top_stack_share));
    }
    out.push_back(fmt::format("  {} of the RSS growth explained over {}{}", percent(b.explained),
                              human_duration(b.window_s), top));
  }
  return out;
}

std::string gomemlimit_line(const GoMemLimitForecast& f) {
  if (!f.limited) return "";
  std::string head = fmt::format(
      "GOMEMLIMIT {}: the GC would run continuously once the live heap reaches {} (the limit's "
      "goal {} less the GC's runway {}; non-heap {})",
      human_bytes(static_cast<double>(f.limit_bytes)),
      human_bytes(static_cast<double>(f.spiral_live_bytes)),
      human_bytes(static_cast<double>(f.saturation_live_bytes)),
      human_bytes(static_cast<double>(f.saturation_live_bytes - f.spiral_live_bytes)),
      human_bytes(static_cast<double>(f.non_heap_bytes)));
  if (f.seconds_to_spiral == 0) return head + "; it is there now";
  if (f.seconds_to_spiral < 0) return head + "; the live heap is not growing";
  std::string bound = f.bound_now ? "the limit already sets the GC's goal"
                                  : fmt::format("the limit sets the GC's goal in ~{}",
                                                human_eta(f.seconds_to_bound));
  return head + fmt::format("; live heap growing {}: {}, continuous GC in ~{}",
                            human_rate(f.live_per_s), bound, human_eta(f.seconds_to_spiral));
}

}  // namespace leakhound::report
