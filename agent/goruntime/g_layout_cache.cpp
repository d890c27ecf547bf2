#include "goruntime/g_layout_cache.h"

#include <sys/stat.h>

namespace leakhound::goruntime {

Result<ResolvedGLayout> resolve_g_layout_once(const binary::ElfFile& elf,
                                              const binary::GoVersion& v) {
  ResolvedGLayout out;
  auto l = resolve_g_layout(elf, v, &out.source);
  if (!l) return l.error();
  out.layout = std::move(*l);
  if (auto m = resolve_memstats_layout(elf, v, &out.memstats_source)) {
    out.memstats = *m;
  } else {
    out.memstats_error = m.error().message;
  }
  return out;
}

Result<ResolvedGLayout> GLayoutCache::get(const binary::ElfFile& elf, const binary::GoVersion& v) {
  struct stat st {};
  // An unstat-able file (it went away) is simply not cached.
  if (::stat(elf.path().c_str(), &st) != 0) return resolve_g_layout_once(elf, v);
  const Key key{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                static_cast<int64_t>(st.st_size),
                static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, v.minor};
  {
    std::lock_guard lock(mu_);
    if (auto it = layouts_.find(key); it != layouts_.end()) return it->second;
  }
  auto r = resolve_g_layout_once(elf, v);
  if (!r) return r;
  std::lock_guard lock(mu_);
  // Bounded: a node that runs thousands of distinct binaries over time starts over.
  if (layouts_.size() >= kMaxEntries) layouts_.clear();
  layouts_.emplace(key, *r);
  return r;
}

size_t GLayoutCache::size() const {
  std::lock_guard lock(mu_);
  return layouts_.size();
}

}  // namespace leakhound::goruntime
