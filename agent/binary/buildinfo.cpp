#include "binary/buildinfo.h"

#include <elf.h>

#include <cctype>
#include <tuple>

#include "binary/byte_reader.h"

namespace leakhound::binary {

using detail::Bytes;

namespace {

constexpr std::string_view kMagic = "\xff Go buildinf:";
constexpr size_t kHeaderSize = 32;
constexpr uint8_t kFlagBigEndian = 1;
constexpr uint8_t kFlagInline = 2;  // Go 1.18+: strings follow the header
constexpr uint64_t kMaxString = 1 << 20;

bool has_magic(Bytes b) {
  return b.size() >= kHeaderSize && std::memcmp(b.data(), kMagic.data(), kMagic.size()) == 0;
}

// Without section headers the blob is still in a writable segment, 16-byte aligned.
std::optional<Bytes> find_blob(const ElfFile& elf) {
  if (auto s = elf.section(".go.buildinfo")) {
    Bytes d = elf.section_data(*s);
    return d;
  }
  if (!elf.sections().empty()) return std::nullopt;
  for (const auto& seg : elf.segments()) {
    if (seg.type != PT_LOAD || (seg.flags & PF_W) == 0) continue;
    Bytes d = elf.bytes().subspan(seg.offset, seg.filesz);
    uint64_t skip = (16 - seg.vaddr % 16) % 16;
    for (uint64_t off = skip; off + kHeaderSize <= d.size(); off += 16) {
      if (has_magic(d.subspan(off))) return d.subspan(off);
    }
  }
  return std::nullopt;
}

// Go 1.18+: two uvarint-length-prefixed strings right after the header.
Result<std::pair<std::string, std::string>> read_inline(const ElfFile& elf, Bytes b) {
  uint64_t pos = kHeaderSize;
  std::string out[2];
  const char* what[2] = {"version", "module info"};
  for (int i = 0; i < 2; i++) {
    auto len = detail::read_uvarint(b, pos);
    if (!len) return make_error("{}: .go.buildinfo: bad {} length", elf.path(), what[i]);
    auto s = detail::sub(b, pos, *len);
    if (!s) return make_error("{}: .go.buildinfo: {} runs past the end", elf.path(), what[i]);
    out[i].assign(reinterpret_cast<const char*>(s->data()), s->size());
    pos += *len;
  }
  return std::pair{std::move(out[0]), std::move(out[1])};
}

// Before Go 1.18: the header holds pointers to two Go string headers {ptr, len}.
Result<std::string> read_go_string(const ElfFile& elf, uint64_t addr, uint8_t ptr_size) {
  auto hdr = elf.read_vaddr(addr, 2 * ptr_size);
  if (!hdr) return hdr.error();
  auto word = [&](size_t i) -> uint64_t {
    return ptr_size == 8 ? *detail::read_le<uint64_t>(*hdr, i * 8)
                         : *detail::read_le<uint32_t>(*hdr, i * 4);
  };
  uint64_t data = word(0), len = word(1);
  if (len > kMaxString) return make_error("{}: .go.buildinfo: string too long", elf.path());
  auto s = elf.read_vaddr(data, len);
  if (!s) return s.error();
  return std::string(reinterpret_cast<const char*>(s->data()), s->size());
}

Result<std::pair<std::string, std::string>> read_pointers(const ElfFile& elf, Bytes b) {
  uint8_t ptr_size = b[14], flags = b[15];
  if (ptr_size != 4 && ptr_size != 8) {
    return make_error("{}: .go.buildinfo: bad pointer size {}", elf.path(), ptr_size);
  }
  if (flags & kFlagBigEndian) {
    return make_error("{}: .go.buildinfo: big-endian binaries are not supported", elf.path());
  }
  auto ptr = [&](size_t i) -> uint64_t {
    return ptr_size == 8 ? *detail::read_le<uint64_t>(b, 16 + 8 * i)
                         : *detail::read_le<uint32_t>(b, 16 + 4 * i);
  };
  auto version = read_go_string(elf, ptr(0), ptr_size);
  if (!version) return version.error();
  auto mod = read_go_string(elf, ptr(1), ptr_size);
  if (!mod) return mod.error();
  return std::pair{std::move(*version), std::move(*mod)};
}

void parse_modinfo(std::string_view mod, BuildInfo& bi) {
  // The linker frames modinfo with 16-byte sentinels; debug/buildinfo strips
  // them the same way.
  if (mod.size() >= 33 && mod[mod.size() - 17] == '\n') {
    mod = mod.substr(16, mod.size() - 32);
  } else {
    return;
  }
  while (!mod.empty()) {
    size_t nl = mod.find('\n');
    std::string_view line = mod.substr(0, nl);
    mod = nl == std::string_view::npos ? std::string_view() : mod.substr(nl + 1);
    size_t tab = line.find('\t');
    if (tab == std::string_view::npos) continue;
    std::string_view key = line.substr(0, tab), rest = line.substr(tab + 1);
    if (key == "path") {
      bi.path = std::string(rest);
    } else if (key == "mod") {
      size_t t = rest.find('\t');
      bi.module_path = std::string(rest.substr(0, t));
      if (t != std::string_view::npos) {
        std::string_view v = rest.substr(t + 1);
        bi.module_version = std::string(v.substr(0, v.find('\t')));
      }
    } else if (key == "build") {
      size_t eq = rest.find('=');
      if (eq == std::string_view::npos) continue;
      bi.settings.emplace_back(std::string(rest.substr(0, eq)), std::string(rest.substr(eq + 1)));
    }
  }
}

std::optional<int> parse_int(std::string_view s, size_t& pos) {
  size_t start = pos;
  int v = 0;
  while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])) && pos - start < 6) {
    v = v * 10 + (s[pos++] - '0');
  }
  if (pos == start) return std::nullopt;
  return v;
}

}  // namespace

bool GoVersion::operator<(const GoVersion& o) const {
  return std::tie(major, minor, patch, raw) < std::tie(o.major, o.minor, o.patch, o.raw);
}

Result<GoVersion> parse_go_version(const std::string& s) {
  std::string_view v = s;
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
  // "devel go1.27-abcdef Tue Jan 1 ..." names the release the tree was heading for.
  if (v.starts_with("devel ")) v.remove_prefix(6);
  v = v.substr(0, v.find_first_of(" \t\n"));
  if (!v.starts_with("go")) return make_error("invalid Go version \"{}\"", s);
  size_t pos = 2;
  auto major = parse_int(v, pos);
  if (!major || pos >= v.size() || v[pos] != '.') {
    return make_error("invalid Go version \"{}\"", s);
  }
  pos++;
  auto minor = parse_int(v, pos);
  if (!minor) return make_error("invalid Go version \"{}\"", s);
  GoVersion gv;
  gv.major = *major;
  gv.minor = *minor;
  if (pos < v.size() && v[pos] == '.') {
    pos++;
    if (auto patch = parse_int(v, pos)) gv.patch = *patch;
  }
  gv.raw = s;
  return gv;
}

Result<BuildInfo> read_buildinfo(const ElfFile& elf) {
  auto blob = find_blob(elf);
  if (!blob) return make_error("{}: not a Go program: no .go.buildinfo section", elf.path());
  Bytes b = *blob;
  if (!has_magic(b)) return make_error("{}: .go.buildinfo: bad header", elf.path());
  auto strings = (b[15] & kFlagInline) ? read_inline(elf, b) : read_pointers(elf, b);
  if (!strings) return strings.error();
  auto& [version, mod] = *strings;
  if (version.empty()) return make_error("{}: .go.buildinfo has no Go version", elf.path());
  auto gv = parse_go_version(version);
  if (!gv) return make_error("{}: {}", elf.path(), gv.error().message);
  BuildInfo bi;
  bi.go_version = std::move(*gv);
  parse_modinfo(mod, bi);
  return bi;
}

}  // namespace leakhound::binary
