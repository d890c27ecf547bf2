#include "goruntime/g_layout.h"

#include <algorithm>

#include "goruntime/profile_layout.h"

namespace leakhound::goruntime {

const std::vector<GLayout>& all_g_layouts() {
  // Oldest first; regenerate with scripts/gen-offsets.sh.
  static const std::vector<GLayout> layouts = {
#include "goruntime/g_layout_table.inc"
  };
  return layouts;
}

Result<GLayout> g_layout(const binary::GoVersion& v) {
  if (v.major != 1 || v.minor < kMinGoMinor) {
    return make_error("{} is too old: leakhound supports Go 1.{} and newer", v.raw, kMinGoMinor);
  }
  const auto& all = all_g_layouts();
  if (all.empty()) return make_error("no runtime.g layouts: g_layout_table.inc is empty");
  for (const auto& l : all) {
    if (l.go_minor == v.minor) return l;
  }
  if (v.minor > all.back().go_minor) return all.back();  // best effort: the caller warns
  return make_error("{}: no runtime.g layout for Go 1.{} (regenerate g_layout_table.inc)", v.raw,
                    v.minor);
}

uint32_t GLayout::read_size() const {
  uint32_t end = 0;
  auto cover = [&end](int64_t off, uint32_t size) {
    if (off >= 0) end = std::max(end, static_cast<uint32_t>(off) + size);
  };
  cover(stack_lo, 8);
  cover(stack_hi, 8);
  cover(sched_sp, 8);
  cover(sched_pc, 8);
  cover(sched_bp, 8);
  cover(syscallsp, 8);
  cover(syscallpc, 8);
  cover(syscallbp, 8);
  cover(atomicstatus, 4);
  cover(goid, 8);
  cover(waitsince, 8);
  cover(waitreason, 1);
  cover(parent_goid, 8);
  cover(gopc, 8);
  cover(startpc, 8);
  return (end + 7) / 8 * 8;
}

}  // namespace leakhound::goruntime
