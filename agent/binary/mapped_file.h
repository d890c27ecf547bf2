// A file mapped read-only, so that reading a 90 MB executable costs page cache
// (shared with the process that runs it) instead of 90 MB of our own anonymous
// memory, and only the pages a parser touches are ever resident.
//
// A mapped file can be truncated under us; touching a page past its new end
// raises SIGBUS. A process-wide SIGBUS handler replaces such a page with zeros
// and marks the mapping damaged: parsers see bytes that make no sense (they
// are hostile-input safe), never a crash, and the owner can ask damaged().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "util/result.h"

namespace leakhound::binary {

class MappedFile {
 public:
  // Maps a regular file; an empty file maps to an empty span.
  static Result<std::shared_ptr<const MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const uint8_t> bytes() const { return {base_, size_}; }
  // True once a page could not be read from the file (it shrank while mapped).
  bool damaged() const { return damaged_.load(std::memory_order_relaxed); }
  // Drops our page-table entries for the file (the page cache keeps the data):
  // the next read faults the page in again. Keeps resident memory at what is
  // in use after a scan of the whole function table.
  void release_pages() const;

  // Identity of the mapped file (device, inode, size, modification time).
  uint64_t dev() const { return dev_; }
  uint64_t ino() const { return ino_; }
  int64_t mtime_ns() const { return mtime_ns_; }

 private:
  MappedFile() = default;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  size_t map_len_ = 0;  // page-rounded
  int slot_ = -1;       // in the SIGBUS guard's registry
  uint64_t dev_ = 0, ino_ = 0;
  int64_t mtime_ns_ = 0;
  mutable std::atomic<bool> damaged_{false};
};

}  // namespace leakhound::binary
