#include "binary/executable_cache.h"

#include <sys/stat.h>

namespace leakhound::binary {

void ExecutableCache::drop_unused() {
  // The cached ElfFile itself holds two references to its bytes (and
  // keep_alive() one more); anything else is a process's copy or a Pclntab.
  for (auto it = files_.begin(); it != files_.end();) {
    it = it->second.keep_alive().use_count() <= 3 ? files_.erase(it) : std::next(it);
  }
}

Result<ElfFile> ExecutableCache::open(const std::string& path) {
  struct stat st {};
  // A file that cannot be stat-ed (gone) is opened for this caller alone.
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return ElfFile::open(path);
  const Key key{uint64_t(st.st_dev), uint64_t(st.st_ino), int64_t(st.st_size),
                int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
  std::lock_guard lock(mu_);
  drop_unused();
  if (auto it = files_.find(key); it != files_.end() && !it->second.damaged()) {
    return it->second;
  }
  auto elf = ElfFile::open(path);
  if (!elf) return elf.error();
  // Cached under what was mapped: a file replaced between stat and open is
  // another file.
  const MappedFile* m = elf->mapping();
  const Key mapped{m->dev(), m->ino(), int64_t(elf->bytes().size()), m->mtime_ns()};
  files_.insert_or_assign(mapped, *elf);
  return elf;
}

size_t ExecutableCache::size() {
  std::lock_guard lock(mu_);
  drop_unused();
  return files_.size();
}

}  // namespace leakhound::binary
