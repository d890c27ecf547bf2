#include "target/native_symbolizer.h"

#include <bcc/bcc_syms.h>
#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "target/process.h"
#include "util/fd.h"

namespace leakhound::target {

namespace {

// bcc reads each /proc/PID/maps line's path with an unbounded "%[^\n]" into a
// PATH_MAX buffer, and a mapped path can be longer than that (d_path is not
// bounded by PATH_MAX): a process that maps such a path is symbolized without
// bcc rather than let it overflow its stack. The margin covers the padding
// before the path. (bcc re-reads the maps on refresh and after an exec: a
// target racing a long path in between is not covered.)
constexpr size_t kBccMaxPath = 4096 - 128;

std::string demangle(const char* name) {
  if (!name) return {};
  if (std::strncmp(name, "_Z", 2) == 0) {
    int status = 0;
    if (char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status)) {
      std::string s(d);
      std::free(d);
      return s;
    }
  }
  return name;
}

// A subprogram's or inlined subroutine's name: the demangled linkage name
// (qualified, like the symbol table's), else DW_AT_name.
std::string die_name(Dwarf_Die* die) {
  Dwarf_Attribute a;
  if (dwarf_attr_integrate(die, DW_AT_linkage_name, &a) ||
      dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a)) {
    if (const char* s = dwarf_formstring(&a)) return demangle(s);
  }
  if (dwarf_attr_integrate(die, DW_AT_name, &a)) {
    if (const char* s = dwarf_formstring(&a)) return s;
  }
  return {};
}

constexpr std::string_view kDeleted = " (deleted)";

bool same_mapping(const Mapping& a, const Mapping& b) {
  return a.start == b.start && a.end == b.end && a.offset == b.offset && a.inode == b.inode &&
         a.path == b.path;
}

// DWARF of one mapped file, reported at its link-time addresses (bias 0) so
// that it survives remapping.
struct LineModule {
  Dwfl* dwfl = nullptr;
  Dwfl_Module* mod = nullptr;
  GElf_Addr bias = 0;            // Dwfl address - link-time address
  std::vector<GElf_Phdr> loads;  // PT_LOAD, to turn file offsets into addresses
  LineModule() = default;
  LineModule(const LineModule&) = delete;
  LineModule& operator=(const LineModule&) = delete;
  ~LineModule() {
    if (dwfl) dwfl_end(dwfl);
  }

  // Link-time address of a byte of the file, if a PT_LOAD maps it.
  std::optional<uint64_t> vaddr(uint64_t file_off) const {
    for (const GElf_Phdr& p : loads) {
      if (file_off >= p.p_offset && file_off - p.p_offset < p.p_filesz)
        return p.p_vaddr + (file_off - p.p_offset);
    }
    return std::nullopt;
  }
};

// Device (major, minor), inode, path.
using ModuleKey = std::tuple<uint64_t, uint64_t, uint64_t, std::string>;

ModuleKey key_of(const Mapping& m) { return {m.dev_major, m.dev_minor, m.inode, m.path}; }

}  // namespace

struct NativeSymbolizer::Impl {
  Process proc;
  std::string root;           // /proc/PID/root: the process's view of the file system
  void* cache = nullptr;      // bcc symcache; null when bcc cannot be used (see kBccMaxPath)
  std::vector<Mapping> maps;  // executable file mappings, by start
  std::map<ModuleKey, std::unique_ptr<LineModule>> lines;  // null: no line info
  // Results by address, [return_address]: stacks share most of their
  // addresses, and a DWARF scope walk costs tens of microseconds.
  std::unordered_map<uint64_t, std::vector<Frame>> memo[2];
  static constexpr size_t kMemoMax = 1 << 18;
  std::string debuginfo_path;
  char* debuginfo_path_c = nullptr;
  Dwfl_Callbacks callbacks{};

  explicit Impl(Process p) : proc(std::move(p)), root(fmt::format("/proc/{}/root", proc.pid())) {
    // Build-id debug files in the process's root (containers) and the host's.
    debuginfo_path = fmt::format("-{}/usr/lib/debug:/usr/lib/debug", root);
    debuginfo_path_c = debuginfo_path.data();
    // Every module is reported with its file; never look one up elsewhere.
    callbacks.find_elf = [](Dwfl_Module*, void**, const char*, Dwarf_Addr, char**, Elf**) {
      return -1;
    };
    callbacks.find_debuginfo = find_debuginfo;
    callbacks.debuginfo_path = &debuginfo_path_c;
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    lines.clear();
    free_bcc();
  }

  void free_bcc() {
    if (cache) bcc_free_symcache(cache, proc.pid());
    cache = nullptr;
  }

  // Reads the mappings; reloads bcc and drops line info of unmapped files
  // when the executable mappings changed. Returns whether they did.
  Result<bool> load() {
    auto all = proc.maps();
    if (!all) return all.error();
    std::vector<Mapping> exec;
    bool bcc_safe = true;
    for (Mapping& m : *all) {
      bcc_safe &= m.path.size() <= kBccMaxPath;
      if (m.exec && !m.path.empty()) exec.push_back(std::move(m));
    }
    std::sort(exec.begin(), exec.end(),
              [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
    const bool changed =
        !std::equal(exec.begin(), exec.end(), maps.begin(), maps.end(), same_mapping);
    if (!changed && (cache || !bcc_safe)) return false;
    maps = std::move(exec);
    memo[0].clear();
    memo[1].clear();
    if (!bcc_safe) {
      free_bcc();
    } else {
      try {
        if (cache) {
          bcc_symcache_refresh(cache);
        } else {
          bcc_symbol_option opt{};
          opt.use_debug_file = 1;
          opt.check_debug_file_crc = 1;
          opt.lazy_symbolize = 1;  // names read on use: big binaries, few addresses
          // NOTYPE: hand-written assembly often has no .type; zero-sized
          // symbols (section markers) never match an address.
          opt.use_symbol_type = (1u << STT_FUNC) | (1u << STT_GNU_IFUNC) | (1u << STT_NOTYPE);
          cache = bcc_symcache_new(proc.pid(), &opt);
        }
      } catch (const std::exception&) {
        free_bcc();
      }
    }
    std::erase_if(lines, [&](const auto& e) {
      return std::none_of(maps.begin(), maps.end(),
                          [&](const Mapping& m) { return key_of(m) == e.first; });
    });
    return true;
  }

  const Mapping* mapping_at(uint64_t addr) const {
    auto it = std::upper_bound(maps.begin(), maps.end(), addr,
                               [](uint64_t a, const Mapping& m) { return a < m.start; });
    if (it == maps.begin()) return nullptr;
    --it;
    return addr < it->end ? &*it : nullptr;
  }

  // The line info of a mapped file, opened on first use.
  LineModule* line_module(const Mapping& m) {
    ModuleKey key = key_of(m);
    if (auto it = lines.find(key); it != lines.end()) return it->second.get();
    std::unique_ptr<LineModule>& slot = lines[key];
    if (m.path.empty() || m.path[0] != '/') return nullptr;  // [vdso], anonymous
    // A file deleted (or replaced) since it was mapped is still there
    // through map_files (root only).
    const std::string file =
        m.path.ends_with(kDeleted)
            ? fmt::format("/proc/{}/map_files/{:x}-{:x}", proc.pid(), m.start, m.end)
            : root + m.path;
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    auto lm = std::make_unique<LineModule>();
    lm->dwfl = dwfl_begin(&callbacks);
    if (!lm->dwfl) {
      ::close(fd);
      return nullptr;
    }
    // ET_DYN at bias 0 (link-time addresses); ET_EXEC where it is linked.
    lm->mod = dwfl_report_elf(lm->dwfl, m.path.c_str(), file.c_str(), fd, 0, true);
    if (!lm->mod) {
      ::close(fd);  // consumed only on success
      return nullptr;
    }
    dwfl_report_end(lm->dwfl, nullptr, nullptr);
    void** userdata = nullptr;
    dwfl_module_info(lm->mod, &userdata, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    if (userdata) *userdata = this;  // for find_debuginfo
    Elf* elf = dwfl_module_getelf(lm->mod, &lm->bias);
    size_t n = 0;
    if (!elf || elf_getphdrnum(elf, &n) != 0) return nullptr;
    for (size_t i = 0; i < n; i++) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf, static_cast<int>(i), &ph) && ph.p_type == PT_LOAD)
        lm->loads.push_back(ph);
    }
    Dwarf_Addr dwbias = 0;
    if (!dwfl_module_getdwarf(lm->mod, &dwbias)) return nullptr;  // no DWARF anywhere
    slot = std::move(lm);
    return slot.get();
  }

  // Separate debug info: by build ID (libdw, in debuginfo_path), else by
  // .gnu_debuglink next to the file, in its .debug/ and under the process's
  // /usr/lib/debug. Unlike dwfl_standard_find_debuginfo, never asks a
  // debuginfod server: no network traffic from a leak report.
  static int find_debuginfo(Dwfl_Module* mod, void** userdata, const char* modname, Dwarf_Addr base,
                            const char* file_name, const char* debuglink, GElf_Word crc,
                            char** debuginfo_file_name) {
    int fd = dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink, crc,
                                          debuginfo_file_name);
    if (fd >= 0 || !userdata || !*userdata || !file_name || !debuglink) return fd;
    // A dwz alternate file (absolute name) is found by build ID or not at all.
    if (std::strchr(debuglink, '/')) return -1;
    const Impl* self = static_cast<const Impl*>(*userdata);
    const std::string_view file(file_name);
    const size_t slash = file.rfind('/');
    if (slash == std::string_view::npos) return -1;
    const std::string dir(file.substr(0, slash));
    std::vector<std::string> candidates;
    if (file.substr(slash + 1) != debuglink) candidates.push_back(dir + "/" + debuglink);
    candidates.push_back(dir + "/.debug/" + debuglink);
    if (dir.starts_with(self->root))
      candidates.push_back(self->root + "/usr/lib/debug" + dir.substr(self->root.size()) + "/" +
                           debuglink);
    const void* want_id = nullptr;
    const unsigned char* bits = nullptr;
    GElf_Addr id_vaddr = 0;
    const int want_len = dwfl_module_build_id(mod, &bits, &id_vaddr);
    want_id = bits;
    for (const std::string& c : candidates) {
      UniqueFd cfd(::open(c.c_str(), O_RDONLY | O_CLOEXEC));
      if (!cfd.valid()) continue;
      if (!debug_file_matches(cfd.get(), want_id, want_len, crc)) continue;
      if (debuginfo_file_name) *debuginfo_file_name = strdup(c.c_str());
      return cfd.release();
    }
    return -1;
  }

  // The main file's build ID when it has one (a debug file carries the same),
  // else the CRC32 of the whole debug file that .gnu_debuglink records.
  static bool debug_file_matches(int fd, const void* want_id, int want_len, GElf_Word crc) {
    if (want_len > 0) {
      Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
      if (!elf) return false;
      const void* id = nullptr;
      const ssize_t len = dwelf_elf_gnu_build_id(elf, &id);
      const bool same = len == want_len && std::memcmp(id, want_id, static_cast<size_t>(len)) == 0;
      elf_end(elf);
      return same;
    }
    uLong sum = crc32(0, nullptr, 0);
    unsigned char buf[64 * 1024];
    for (off_t off = 0;;) {
      const ssize_t n = ::pread(fd, buf, sizeof buf, off);
      if (n < 0) return false;
      if (n == 0) break;
      sum = crc32(sum, buf, static_cast<uInt>(n));
      off += n;
    }
    return static_cast<GElf_Word>(sum) == crc;
  }

  std::vector<Frame> frames(uint64_t addr, bool return_address) {
    auto& cached = memo[return_address ? 1 : 0];
    if (auto it = cached.find(addr); it != cached.end()) return it->second;
    std::vector<Frame> out = lookup(addr, return_address);
    if (out.back().module.empty()) return out;  // unmapped: may be mapped later
    if (cached.size() >= kMemoMax) cached.clear();
    cached.emplace(addr, out);
    return out;
  }

  std::vector<Frame> lookup(uint64_t addr, bool return_address) {
    // The call instruction ends before a return address: look up the byte
    // before it (a call to a noreturn function may end its caller).
    const uint64_t at = return_address && addr > 0 ? addr - 1 : addr;
    const Mapping* m = mapping_at(at);
    if (!m) {
      // Perhaps mapped since (dlopen); a garbage address costs a maps read.
      auto changed = load();
      if (changed && *changed) m = mapping_at(at);
    }
    std::vector<Frame> out;
    Frame outer;
    outer.pc = addr;
    if (m) outer.module = m->path;

    std::string name;
    if (cache) {
      bcc_symbol sym{};
      try {
        if (bcc_symcache_resolve(cache, at, &sym) == 0 && sym.name) {
          name = sym.demangle_name && *sym.demangle_name ? sym.demangle_name : sym.name;
          if (outer.module.empty() && sym.module) outer.module = sym.module;  // perf map
        }
      } catch (const std::exception&) {
        name.clear();
      }
      bcc_symbol_free_demangle_name(&sym);
    }

    if (LineModule* lm = m ? line_module(*m) : nullptr) {
      if (auto v = lm->vaddr(m->offset + (at - m->start)))
        name_from_dwarf(*lm, *v + lm->bias, outer, out, name);
    }
    if (name.empty()) {
      // Covered by no function (padding between functions): a line there
      // would be a neighbour's.
      out.clear();
      outer.file.clear();
      outer.line = 0;
      outer.function = fmt::format("{:#x}", addr);
    } else {
      outer.function = std::move(name);
    }
    out.push_back(std::move(outer));
    return out;
  }

  // Fills outer's file and line from the line table, pushes a frame per
  // inlined call (innermost first) and names the function when the symbol
  // tables did not.
  static void name_from_dwarf(const LineModule& lm, Dwarf_Addr a, Frame& outer,
                              std::vector<Frame>& inlined, std::string& name) {
    Dwfl_Line* row = dwfl_module_getsrc(lm.mod, a);
    if (!row) return;
    int lineno = 0;
    const char* src = dwfl_lineinfo(row, nullptr, &lineno, nullptr, nullptr, nullptr);
    std::string file = src ? src : "";
    int64_t line = lineno;

    Dwarf_Addr bias = 0;
    Dwarf_Die* cu = dwfl_module_addrdie(lm.mod, a, &bias);
    Dwarf_Die* scopes = nullptr;
    int n = cu ? dwarf_getscopes(cu, a - bias, &scopes) : 0;
    if (n > 0) {
      // dwarf_getscopes continues into an inlined function's abstract
      // origin; the concrete nesting comes from the innermost DIE's scopes.
      Dwarf_Die inner = scopes[0];
      std::free(scopes);
      scopes = nullptr;
      n = dwarf_getscopes_die(&inner, &scopes);
    }
    Dwarf_Files* files = nullptr;
    size_t nfiles = 0;
    if (n > 0 && dwarf_getsrcfiles(cu, &files, &nfiles) != 0) files = nullptr;
    for (int i = 0; i < n; i++) {
      Dwarf_Die* die = &scopes[i];
      const int tag = dwarf_tag(die);
      if (tag == DW_TAG_subprogram || tag == DW_TAG_entry_point) {
        if (name.empty()) name = die_name(die);
        break;
      }
      if (tag != DW_TAG_inlined_subroutine) continue;
      Frame f;
      f.function = die_name(die);
      if (f.function.empty()) f.function = "(inlined)";
      f.file = std::move(file);
      f.line = line;
      f.pc = outer.pc;
      f.module = outer.module;
      inlined.push_back(std::move(f));
      // The caller's location is this inlined call's site.
      Dwarf_Attribute attr;
      Dwarf_Word v = 0;
      file.clear();
      line = 0;
      if (files && dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &v) == 0 &&
          v < nfiles) {
        if (const char* s = dwarf_filesrc(files, v, nullptr, nullptr)) file = s;
      }
      if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &v) == 0)
        line = static_cast<int64_t>(v);
    }
    std::free(scopes);
    outer.file = std::move(file);
    outer.line = line;
  }
};

NativeSymbolizer::NativeSymbolizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NativeSymbolizer::NativeSymbolizer(NativeSymbolizer&&) noexcept = default;
NativeSymbolizer& NativeSymbolizer::operator=(NativeSymbolizer&&) noexcept = default;
NativeSymbolizer::~NativeSymbolizer() = default;

Result<NativeSymbolizer> NativeSymbolizer::open(pid_t pid) {
  auto proc = Process::open(pid);
  if (!proc) return proc.error();
  auto impl = std::make_unique<Impl>(std::move(*proc));
  if (auto r = impl->load(); !r) return r.error();
  if (impl->maps.empty()) return make_error("PID {} has no executable file mappings", pid);
  return NativeSymbolizer(std::move(impl));
}

pid_t NativeSymbolizer::pid() const { return impl_ ? impl_->proc.pid() : 0; }

Frame NativeSymbolizer::resolve(uint64_t addr, bool return_address) const {
  return std::move(frames(addr, return_address).back());
}

std::vector<Frame> NativeSymbolizer::frames(uint64_t addr, bool return_address) const {
  if (!impl_) return {Frame{fmt::format("{:#x}", addr), "", 0, addr}};
  return impl_->frames(addr, return_address);
}

Result<void> NativeSymbolizer::refresh() {
  if (!impl_) return make_error("native symbolizer was moved from");
  if (!impl_->proc.alive()) return make_error("PID {} has exited", impl_->proc.pid());
  auto r = impl_->load();
  if (!r) return r.error();
  return ok_result();
}

}  // namespace leakhound::target
