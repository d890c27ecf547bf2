#include "report/pprof_writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proto/profile.pb.h"

namespace leakhound::report {
namespace {

namespace pb = perftools::profiles;

constexpr uint64_t kMappingId = 1;

int64_t to_i64(uint64_t v) {
  return v > uint64_t(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                           : int64_t(v);
}

// Non-negative and rounded; NaN is 0.
int64_t to_i64(double v) {
  if (!(v > 0)) return 0;
  if (v >= 9.2e18) return std::numeric_limits<int64_t>::max();
  return std::llround(v);
}

// Go's heap profiles (runtime/pprof) leave out the allocator's own frames:
// the leading runtime ones, unless the stack has nothing else.
std::vector<Frame> without_leading_runtime(const std::vector<Frame>& stack) {
  auto first_user = std::find_if_not(stack.begin(), stack.end(), is_runtime_frame);
  if (first_user == stack.end()) return stack;
  return {first_user, stack.end()};
}

// Builds one Profile: interns strings, functions and locations.
class Builder {
 public:
  explicit Builder(const Report& r) : exe_(r.target.exe) {
    p_.add_string_table("");  // index 0 is always ""
    strings_.emplace("", 0);
  }

  int64_t str(std::string_view s) {
    auto [it, added] = strings_.try_emplace(std::string(s), int64_t(p_.string_table_size()));
    if (added) p_.add_string_table(std::string(s));
    return it->second;
  }

  void add_sample_type(std::string_view type, std::string_view unit) {
    pb::ValueType* vt = p_.add_sample_type();
    vt->set_type(str(type));
    vt->set_unit(str(unit));
  }

  void set_period(std::string_view type, std::string_view unit, int64_t period) {
    p_.mutable_period_type()->set_type(str(type));
    p_.mutable_period_type()->set_unit(str(unit));
    p_.set_period(period);
  }

  void set_default_sample_type(std::string_view type) { p_.set_default_sample_type(str(type)); }
  void set_time(int64_t time_ns, int64_t duration_ns) {
    p_.set_time_nanos(time_ns);
    p_.set_duration_nanos(duration_ns);
  }
  void add_comment(std::string_view c) { p_.add_comment(str(c)); }

  // A sample with the stack (leaf first) and values in sample type order.
  pb::Sample* add_sample(const std::vector<Frame>& stack, const std::vector<int64_t>& values) {
    pb::Sample* s = p_.add_sample();
    for (uint64_t id : locations(stack)) s->add_location_id(id);
    for (int64_t v : values) s->add_value(v);
    return s;
  }

  void add_label(pb::Sample* s, std::string_view key, std::string_view value) {
    pb::Label* l = s->add_label();
    l->set_key(str(key));
    l->set_str(str(value));
  }

  // The profile, with its one mapping: the executable, over the addresses seen.
  pb::Profile take() {
    pb::Mapping* m = p_.add_mapping();
    m->set_id(kMappingId);
    if (max_pc_ != 0) {
      m->set_memory_start(min_pc_ & ~uint64_t(0xfff));
      m->set_memory_limit((max_pc_ | 0xfff) + 1);
    }
    m->set_filename(str(exe_));
    m->set_has_functions(true);
    m->set_has_filenames(true);
    m->set_has_line_numbers(true);
    return std::move(p_);
  }

 private:
  uint64_t function(const Frame& f) {
    auto [it, added] = functions_.try_emplace({f.function, f.file}, p_.function_size() + 1);
    if (added) {
      pb::Function* fn = p_.add_function();
      fn->set_id(it->second);
      fn->set_name(str(f.function));
      fn->set_system_name(fn->name());
      fn->set_filename(str(f.file));
    }
    return it->second;
  }

  // Consecutive frames with the same non-zero pc are one address with calls
  // inlined there (innermost first, as in the stack): one Location, several
  // Lines. A frame without a pc is a Location of its own.
  std::vector<uint64_t> locations(const std::vector<Frame>& stack) {
    std::vector<uint64_t> ids;
    for (size_t i = 0; i < stack.size();) {
      size_t end = i + 1;
      if (stack[i].pc != 0) {
        while (end < stack.size() && stack[end].pc == stack[i].pc) ++end;
      }
      LocationKey key{stack[i].pc, {}};
      for (size_t k = i; k < end; ++k) key.second.emplace_back(function(stack[k]), stack[k].line);
      auto [it, added] = locations_.try_emplace(key, p_.location_size() + 1);
      if (added) {
        pb::Location* loc = p_.add_location();
        loc->set_id(it->second);
        loc->set_mapping_id(kMappingId);
        loc->set_address(stack[i].pc);
        for (const auto& [fn, line] : key.second) {
          pb::Line* l = loc->add_line();
          l->set_function_id(fn);
          l->set_line(line);
        }
        if (stack[i].pc != 0) {
          min_pc_ = std::min(min_pc_, stack[i].pc);
          max_pc_ = std::max(max_pc_, stack[i].pc);
        }
      }
      ids.push_back(it->second);
      i = end;
    }
    return ids;
  }

  // pc, then (function id, line) per inlined frame, innermost first.
  using LocationKey = std::pair<uint64_t, std::vector<std::pair<uint64_t, int64_t>>>;

  pb::Profile p_;
  std::string exe_;
  std::unordered_map<std::string, int64_t> strings_;
  std::map<std::pair<std::string, std::string>, uint64_t> functions_;
  std::map<LocationKey, uint64_t> locations_;
  uint64_t min_pc_ = std::numeric_limits<uint64_t>::max();
  uint64_t max_pc_ = 0;
};

// The window: it ends now and lasted r.duration_s.
struct Window {
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  int64_t duration_ns = 0;
};

Window window_of(const Report& r) {
  Window w;
  w.end_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  w.duration_ns = to_i64(r.duration_s * 1e9);
  w.duration_ns = std::min(w.duration_ns, w.end_ns);
  w.start_ns = w.end_ns - w.duration_ns;
  return w;
}

std::string target_comment(const Report& r) {
  std::string c = fmt::format("leakhound: pid {}, {}", r.target.pid, r.target.exe);
  if (!r.target.go_version.empty()) c += ", " + r.target.go_version;
  if (!r.target.module_path.empty()) c += fmt::format(" ({})", r.target.module_path);
  return c;
}

std::string frame_text(const Frame& f) {
  if (f.file.empty()) return f.function;
  return fmt::format("{} {}:{}", f.function, f.file, f.line);
}

pb::Profile heap_profile(const Report& r, bool end, const Window& w) {
  Builder b(r);
  b.add_sample_type("alloc_objects", "count");
  b.add_sample_type("alloc_space", "bytes");
  b.add_sample_type("inuse_objects", "count");
  b.add_sample_type("inuse_space", "bytes");
  b.set_default_sample_type("inuse_space");
  b.set_period("space", "bytes", r.sample_rate);
  // pprof's convention: a profile covers [time, time + duration]. The end
  // profile's allocations span the window; the start profile is an instant.
  b.set_time(w.start_ns, end ? w.duration_ns : 0);
  b.add_comment(target_comment(r));
  b.add_comment(end ? fmt::format("heap at the end of a {:.1f} s window; alloc_* are allocations "
                                  "during the window",
                                  r.duration_s)
                    : fmt::format("heap at the start of a {:.1f} s window (first GC cycle seen); "
                                  "alloc_* not measured (0)",
                                  r.duration_s));
  for (const HeapFinding* fp : heap_stacks(r.heap)) {
    const HeapFinding& f = *fp;
    std::vector<int64_t> v;  // alloc_objects, alloc_space, inuse_objects, inuse_space
    if (end) {
      v = {to_i64(f.alloc_objects_window), to_i64(f.alloc_bytes_window), to_i64(f.inuse_objects),
           to_i64(f.inuse_bytes)};
    } else {
      // No series: nothing known about the start; claim no growth.
      double bytes = f.series.empty() ? double(f.inuse_bytes) : f.series.front().value;
      double objects =
          f.inuse_bytes == 0 ? 0 : double(f.inuse_objects) * bytes / double(f.inuse_bytes);
      v = {0, 0, to_i64(objects), to_i64(bytes)};
    }
    b.add_sample(without_leading_runtime(f.stack), v);
  }
  return b.take();
}

pb::Profile goroutine_profile(const Report& r, const Window& w) {
  Builder b(r);
  b.add_sample_type("goroutine", "count");
  b.set_default_sample_type("goroutine");
  b.set_period("goroutine", "count", 1);
  b.set_time(w.end_ns, 0);
  b.add_comment(target_comment(r));
  b.add_comment(
      fmt::format("goroutines at the end of a {:.1f} s window, by creation site", r.duration_s));
  for (const GoroutineFinding& f : r.goroutines) {
    if (f.count == 0) continue;
    pb::Sample* s =
        b.add_sample(f.stack.empty() ? std::vector<Frame>{f.entry} : f.stack, {to_i64(f.count)});
    b.add_label(s, "created_by", frame_text(f.created_at));
    if (!f.wait_reason.empty()) b.add_label(s, "wait_reason", f.wait_reason);
  }
  return b.take();
}

// C allocations outstanding at the end, made during the window (exact: every
// call was traced, so the period is 1).
pb::Profile native_profile(const Report& r, const Window& w) {
  Builder b(r);
  b.add_sample_type("inuse_objects", "count");
  b.add_sample_type("inuse_space", "bytes");
  b.set_default_sample_type("inuse_space");
  b.set_period("space", "bytes", 1);
  b.set_time(w.start_ns, w.duration_ns);
  b.add_comment(target_comment(r));
  b.add_comment(fmt::format(
      "C allocations (malloc family, anonymous mmap) made during a {:.1f} s window and still "
      "outstanding at its end",
      r.duration_s));
  for (const NativeFinding& f : r.native) {
    if (f.inuse_bytes == 0) continue;
    b.add_sample(f.stack, {to_i64(f.inuse_objects), to_i64(f.inuse_bytes)});
  }
  return b.take();
}

Result<std::string> gzip(const std::string& data, const std::string& path) {
  z_stream zs{};
  // 15 window bits + 16: a gzip header and trailer rather than zlib's.
  if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return make_error("cannot compress {}: zlib initialization failed", path);
  }
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = uInt(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = uInt(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return make_error("cannot compress {}: zlib error {}", path, rc);
  return out;
}

// Writes bytes to path (created or truncated, 0644); a failed write leaves no
// file behind.
Result<void> write_file(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_error(errno, "cannot create {}", path);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      ::close(fd);
      ::unlink(path.c_str());
      return errno_error(err, "cannot write {}", path);
    }
    done += size_t(n);
  }
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return errno_error(err, "cannot write {}", path);
  }
  return {};
}

std::string join(const std::string& dir, const char* name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

Result<std::string> encode(const pb::Profile& p, const std::string& what) {
  std::string data;
  if (!p.SerializeToString(&data)) return make_error("cannot encode {}", what);
  return gzip(data, what);
}

Result<void> write_profile(const pb::Profile& p, const std::string& dir, const char* name) {
  std::string path = join(dir, name);
  auto gz = encode(p, path);
  if (!gz) return gz.error();
  return write_file(path, *gz);
}

}  // namespace

Result<void> write_heap_profiles(const Report& r, const std::string& dir) {
  Window w = window_of(r);
  if (auto res = write_profile(heap_profile(r, false, w), dir, "heap-start.pb.gz"); !res) {
    return res;
  }
  return write_profile(heap_profile(r, true, w), dir, "heap-end.pb.gz");
}

Result<std::string> heap_profile_gz(const Report& r) {
  return encode(heap_profile(r, true, window_of(r)), "the heap profile");
}

Result<std::string> goroutine_profile_gz(const Report& r) {
  return encode(goroutine_profile(r, window_of(r)), "the goroutine profile");
}

Result<void> write_goroutine_profile(const Report& r, const std::string& dir) {
  return write_profile(goroutine_profile(r, window_of(r)), dir, "goroutine.pb.gz");
}

Result<void> write_pprof(const Report& r, const std::string& dir) {
  if (dir.empty()) return make_error("pprof output directory: empty path");
  if (::mkdir(dir.c_str(), 0755) != 0) {
    int err = errno;
    struct stat st;
    if (err != EEXIST) return errno_error(err, "cannot create directory {}", dir);
    if (::stat(dir.c_str(), &st) != 0) return errno_error(errno, "cannot use directory {}", dir);
    if (!S_ISDIR(st.st_mode)) return errno_error(ENOTDIR, "cannot use directory {}", dir);
  }
  if (!r.target.go_version.empty()) {  // a C program has no Go heap or goroutines
    if (auto res = write_heap_profiles(r, dir); !res) return res;
    if (auto res = write_goroutine_profile(r, dir); !res) return res;
  }
  if (!r.native_stats.tracked) return {};
  return write_profile(native_profile(r, window_of(r)), dir, "native.pb.gz");
}

}  // namespace leakhound::report
