// Executables opened once for all of their processes (the daemon): every
// process of one file shares its mapping (and so the pages symbolization
// touches) and its symbol index. An entry lives while a process uses it.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "binary/elf_file.h"
#include "util/result.h"

namespace leakhound::binary {

class ExecutableCache {
 public:
  // The ElfFile of path (e.g. /proc/PID/exe), shared with the other opens of
  // the same file (device, inode, size, modification time) still in use.
  Result<ElfFile> open(const std::string& path);
  // Files held now (for tests and the daemon's numbers).
  size_t size();

 private:
  struct Key {
    uint64_t dev, ino;
    int64_t size, mtime_ns;
    // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
    auto operator<=>(const Key&) const = default;
  };
  void drop_unused();  // mu_ held
  std::mutex mu_;
  std::map<Key, ElfFile> files_;
};

}  // namespace leakhound::binary
