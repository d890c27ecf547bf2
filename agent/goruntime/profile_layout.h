// Layout of the runtime's memory-profile records, per Go version.
// Sources: src/runtime/mprof.go at each release; see docs/go-runtime.md §4.
#pragma once

#include <cstdint>
#include <string>

#include "binary/buildinfo.h"
#include "leakhound/support.h"
#include "util/result.h"

namespace leakhound::goruntime {

// Oldest and newest Go releases whose layouts are known (scripts/go-versions.txt,
// through the generated leakhound/support.h). Newer releases are attached on a
// best-effort basis with the newest layout, with a warning.
inline constexpr int kMinGoMinor = support::kGoMinMinor;
inline constexpr int kMaxGoMinor = support::kGoMaxMinor;

struct ProfileLayout {
  // runtime.bucket: next +0, allnext +8, typ +16, hash +24, size +32, nstk +40;
  // stack PCs at +48, then the memRecord.
  uint32_t bucket_header = 48;
  uint32_t off_allnext = 8;
  uint32_t off_typ = 16;
  uint32_t off_size = 32;
  uint32_t off_nstk = 40;
  uint64_t mem_profile_typ = 1;  // bucketType memProfile
  // memRecord.active (a memRecordCycle) is at the start of the memRecord.
  // 1.21–1.26: {allocs, frees, alloc_bytes, free_bytes}; 1.27: {allocs, frees}.
  bool record_has_bytes = true;
  uint32_t cycle_size = 32;
  uint32_t memrecord_size = 128;
  uint32_t max_stack = 1024;  // runtime cap on nstk (32 up to 1.22)
};

// Error for Go older than kMinGoMinor ("go1.17.13 is too old: leakhound
// supports Go 1.18 and newer"); for newer-than-known releases returns the
// newest layout (the caller warns).
Result<ProfileLayout> profile_layout(const binary::GoVersion& v);
bool is_known_version(const binary::GoVersion& v);

}  // namespace leakhound::goruntime
