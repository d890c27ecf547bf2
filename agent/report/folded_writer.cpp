#include "report/folded_writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>

#include "util/fd.h"

namespace leakhound::report {
namespace {

// Frame names must not contain the separators of the format.
std::string clean(std::string name) {
  for (char& c : name) {
    if (c == ';') c = ':';
    if (c == '\n' || c == ' ') c = '_';
  }
  return name.empty() ? "?" : name;
}

std::vector<std::string> root_first(const std::vector<Frame>& stack) {
  std::vector<std::string> frames;
  frames.reserve(stack.size());
  for (auto it = stack.rbegin(); it != stack.rend(); ++it) frames.push_back(it->function);
  return frames;
}

template <typename Finding>
std::vector<WeightedStack> memory_stacks(const std::vector<Finding>& findings) {
  std::vector<WeightedStack> out;
  for (const Finding& f : findings) {
    if (f.inuse_bytes == 0 || f.stack.empty()) continue;
    out.push_back({root_first(f.stack), static_cast<double>(f.inuse_bytes)});
  }
  return out;
}

std::string fold(const std::vector<WeightedStack>& stacks) {
  std::string out;
  for (const WeightedStack& s : stacks) {
    std::string line;
    for (const std::string& fr : s.frames) {
      if (!line.empty()) line += ';';
      line += clean(fr);
    }
    out += fmt::format("{} {}\n", line, static_cast<uint64_t>(s.value));
  }
  return out;
}

}  // namespace

std::vector<WeightedStack> heap_stacks(const Report& r) {
  std::vector<WeightedStack> out;
  for (const HeapFinding* f : heap_stacks(r.heap)) {  // a caller finding: its stacks
    if (f->inuse_bytes == 0 || f->stack.empty()) continue;
    out.push_back({root_first(f->stack), static_cast<double>(f->inuse_bytes)});
  }
  return out;
}

std::vector<WeightedStack> native_stacks(const Report& r) { return memory_stacks(r.native); }

std::vector<WeightedStack> goroutine_stacks(const Report& r) {
  std::vector<WeightedStack> out;
  for (const GoroutineFinding& f : r.goroutines) {
    if (f.count == 0) continue;
    // The creation site as the root frame keeps sites that block in the same
    // place apart.
    std::vector<std::string> frames{"created by " + f.created_at.function};
    for (std::string& fr : root_first(f.stack.empty() ? std::vector<Frame>{f.entry} : f.stack)) {
      frames.push_back(std::move(fr));
    }
    out.push_back({std::move(frames), static_cast<double>(f.count)});
  }
  return out;
}

std::string folded_heap(const Report& r) { return fold(heap_stacks(r)); }

std::string folded_native(const Report& r) { return fold(native_stacks(r)); }

std::string folded_goroutines(const Report& r) { return fold(goroutine_stacks(r)); }

Result<void> write_text_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_error(errno, "cannot write {}", path);
  UniqueFd f(fd);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(f.get(), text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "cannot write {}", path);
    }
    done += static_cast<size_t>(n);
  }
  // Errors of delayed writes (a full disk on NFS, quota) show at close.
  if (::close(f.release()) != 0) return errno_error(errno, "cannot write {}", path);
  return {};
}

}  // namespace leakhound::report
