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

// Root first: the reverse of the report's leaf-first stacks.
std::string fold(const std::vector<Frame>& stack, const std::string& root) {
  std::string line = root;
  for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
    if (!line.empty()) line += ';';
    line += clean(it->function);
  }
  return line;
}

}  // namespace

std::string folded_heap(const Report& r) {
  std::string out;
  for (const HeapFinding* f : heap_stacks(r.heap)) {
    if (f->inuse_bytes == 0 || f->stack.empty()) continue;
    out += fmt::format("{} {}\n", fold(f->stack, ""), f->inuse_bytes);
  }
  return out;
}

std::string folded_native(const Report& r) {
  std::string out;
  for (const NativeFinding& f : r.native) {
    if (f.inuse_bytes == 0 || f.stack.empty()) continue;
    out += fmt::format("{} {}\n", fold(f.stack, ""), f.inuse_bytes);
  }
  return out;
}

std::string folded_goroutines(const Report& r) {
  std::string out;
  for (const GoroutineFinding& f : r.goroutines) {
    if (f.count == 0) continue;
    std::string root = clean("created_by_" + f.created_at.function);
    std::vector<Frame> stack = f.stack;
    if (stack.empty()) stack.push_back(f.entry);
    out += fmt::format("{} {}\n", fold(stack, root), f.count);
  }
  return out;
}

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
