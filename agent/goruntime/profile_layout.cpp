#include "goruntime/profile_layout.h"

namespace leakhound::goruntime {

bool is_known_version(const binary::GoVersion& v) {
  return v.major == 1 && v.minor >= kMinGoMinor && v.minor <= kMaxGoMinor;
}

Result<ProfileLayout> profile_layout(const binary::GoVersion& v) {
  if (v.major != 1 || v.minor < kMinGoMinor) {
    return make_error("{} is too old: leakhound supports Go 1.{} and newer", v.raw, kMinGoMinor);
  }
  ProfileLayout l;
  if (v.minor <= 22) l.max_stack = 32;  // maxStack constant before profstackdepth (1.23)
  if (v.minor >= 27) {
    // 1.27 dropped the byte counters: bytes = count * bucket size.
    l.record_has_bytes = false;
    l.cycle_size = 16;
    l.memrecord_size = 64;
  }
  return l;
}

}  // namespace leakhound::goruntime
