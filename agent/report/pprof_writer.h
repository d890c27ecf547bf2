// pprof output: gzipped profile.proto files (proto/profile.proto) that
// `go tool pprof` reads.
//
//   heap-start.pb.gz  the findings' in-use heap at the start of the window
//   heap-end.pb.gz    ... at its end, with the allocations made during it
//   goroutine.pb.gz   live goroutines per creation site at the last snapshot
//
// `go tool pprof -base heap-start.pb.gz heap-end.pb.gz` shows what grew.
//
// Heap samples carry the finding's stack minus its leading runtime frames
// (runtime.mallocgc and the like, up to the first non-runtime caller), as Go's
// own heap profiles do, so that pprof attributes memory to the code that
// allocated it; a stack made only of runtime frames is kept whole. Goroutine
// samples carry the whole stack (runtime.gopark first, as in Go's goroutine
// profile).
#pragma once

#include <string>

#include "report/model.h"
#include "util/result.h"

namespace leakhound::report {

// Writes dir/heap-start.pb.gz and dir/heap-end.pb.gz (dir must exist).
// Sample types alloc_objects, alloc_space, inuse_objects, inuse_space
// (default inuse_space), one sample per heap finding. End: the finding's
// in-use bytes/objects and its allocations during the window. Start: in-use
// bytes at the first GC cycle of the window (series.front()), objects scaled
// alike, no allocations.
Result<void> write_heap_profiles(const Report& r, const std::string& dir);

// Writes dir/goroutine.pb.gz (dir must exist): goroutine/count, one sample per
// creation site with goroutines left, labelled created_by ("function
// file:line" of the go statement) and wait_reason.
Result<void> write_goroutine_profile(const Report& r, const std::string& dir);

// The same profiles as gzipped bytes, for the daemon's /debug/pprof endpoints
// (heap: the end-of-window profile).
Result<std::string> heap_profile_gz(const Report& r);
Result<std::string> goroutine_profile_gz(const Report& r);

// Creates dir if missing (one level, mode 0755) and writes all of the above.
Result<void> write_pprof(const Report& r, const std::string& dir);

}  // namespace leakhound::report
