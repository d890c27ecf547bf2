// runtime.g layouts (and runtime.memstats / gcController layouts) resolved
// once per executable file, for the daemon: the binary's DWARF
// (zlib-compressed, walked by libdw) is most of what attaching to a process
// costs, and many processes run the same binary.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include "binary/elf_file.h"
#include "goruntime/g_layout.h"
#include "goruntime/memstats_layout.h"
#include "util/result.h"

namespace leakhound::goruntime {

struct ResolvedGLayout {
  GLayout layout;
  std::string source;  // as resolve_g_layout says it
  // resolve_memstats_layout's answer, or why there is none.
  std::optional<MemStatsLayout> memstats;
  std::string memstats_source, memstats_error;
};

// resolve_g_layout for one Go target, with the cache when there is one.
Result<ResolvedGLayout> resolve_g_layout_once(const binary::ElfFile& elf,
                                              const binary::GoVersion& v);

class GLayoutCache {
 public:
  // The layout of the file elf was opened from; a file replaced or rewritten
  // in place (size or mtime changed) is read anew. Errors are not cached.
  Result<ResolvedGLayout> get(const binary::ElfFile& elf, const binary::GoVersion& v);
  size_t size() const;

 private:
  static constexpr size_t kMaxEntries = 512;
  // dev, inode, size, mtime (ns), Go minor
  using Key = std::tuple<uint64_t, uint64_t, int64_t, int64_t, int>;
  mutable std::mutex mu_;
  std::map<Key, ResolvedGLayout> layouts_;
};

}  // namespace leakhound::goruntime
