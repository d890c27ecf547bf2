#include "binary/buildinfo.h"

#include <gtest/gtest.h>

#include <random>

#include "test_support.h"

namespace leakhound::binary {
namespace {

using testing::all_targets;
using testing::build_elf;
using testing::put;
using testing::SynthSection;
using testing::Target;

TEST(ParseGoVersion, Releases) {
  auto v = parse_go_version("go1.26.8");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->major, 1);
  EXPECT_EQ(v->minor, 26);
  EXPECT_EQ(v->patch, 8);
  EXPECT_EQ(v->raw, "go1.26.8");

  v = parse_go_version("go1.21");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->minor, 21);
  EXPECT_EQ(v->patch, 0);

  v = parse_go_version("go1.22.3 X:boringcrypto");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->minor, 22);
  EXPECT_EQ(v->patch, 3);
  EXPECT_EQ(v->raw, "go1.22.3 X:boringcrypto");
}

TEST(ParseGoVersion, PreReleasesAndDevel) {
  auto rc = parse_go_version("go1.27rc1");
  ASSERT_TRUE(rc);
  EXPECT_EQ(rc->major, 1);
  EXPECT_EQ(rc->minor, 27);
  EXPECT_EQ(rc->patch, 0);
  EXPECT_EQ(rc->raw, "go1.27rc1");

  auto beta = parse_go_version("go1.25beta2");
  ASSERT_TRUE(beta);
  EXPECT_EQ(beta->minor, 25);

  auto devel = parse_go_version("devel go1.27-abc123 Tue Jan 6 10:00:00 2026 +0000");
  ASSERT_TRUE(devel);
  EXPECT_EQ(devel->major, 1);
  EXPECT_EQ(devel->minor, 27);
  EXPECT_EQ(devel->patch, 0);
  EXPECT_EQ(devel->raw, "devel go1.27-abc123 Tue Jan 6 10:00:00 2026 +0000");
}

TEST(ParseGoVersion, Invalid) {
  for (const char* s : {"", "1.26", "go", "go1", "go1.", "gox.y", "go1.x", "devel", "golang1.2",
                        "go99999999999.1"}) {
    auto v = parse_go_version(s);
    EXPECT_FALSE(v) << s;
    if (!v) {
      EXPECT_NE(v.error().message.find("invalid Go version"), std::string::npos);
    }
  }
}

TEST(ParseGoVersion, Ordering) {
  auto v = [](const char* s) { return *parse_go_version(s); };
  EXPECT_LT(v("go1.21.13"), v("go1.22.0"));
  EXPECT_LT(v("go1.26.2"), v("go1.26.10"));
  EXPECT_FALSE(v("go1.27.0") < v("go1.26.9"));
  EXPECT_TRUE(v("go1.27rc1").at_least(1, 27));
  EXPECT_TRUE(v("go1.26.8").at_least(1, 20));
  EXPECT_FALSE(v("go1.26.8").at_least(1, 27));
  EXPECT_TRUE(v("go2.0").at_least(1, 27));
}

class BuildInfoTarget : public ::testing::TestWithParam<Target> {};

TEST_P(BuildInfoTarget, VersionAndModule) {
  const Target& t = GetParam();
  auto elf = testing::open_target(t);
  ASSERT_TRUE(elf);
  auto bi = read_buildinfo(*elf);
  ASSERT_TRUE(bi) << bi.error().message;
  EXPECT_EQ(bi->go_version.major, 1);
  EXPECT_EQ(bi->go_version.minor, t.minor());
  EXPECT_TRUE(bi->go_version.raw.starts_with("go" + t.version + ".")) << bi->go_version.raw;
  EXPECT_EQ(bi->module_path, "leakhound.test/targets");
  EXPECT_EQ(bi->module_version, "(devel)");
  EXPECT_EQ(bi->path, "leakhound.test/targets/heapleak");
  EXPECT_TRUE(bi->path.ends_with("/heapleak"));

  auto setting = [&](const std::string& key) -> std::string {
    for (const auto& [k, v] : bi->settings) {
      if (k == key) return v;
    }
    return "<absent>";
  };
  EXPECT_EQ(setting("GOARCH"), t.arm64() ? "arm64" : "amd64");
  EXPECT_EQ(setting("GOOS"), "linux");
  EXPECT_EQ(setting("CGO_ENABLED"), t.variant == "cgo" ? "1" : "0");
  // Go records -buildmode from 1.20 on.
  EXPECT_EQ(setting("-buildmode"), t.minor() < 20       ? "<absent>"
                                   : t.variant == "pie" ? "pie"
                                                        : "exe");
  if (t.stripped()) {
    EXPECT_EQ(setting("-ldflags"), "\"-s -w\"");
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, BuildInfoTarget,
                         ::testing::ValuesIn(all_targets({"default", "strip", "pie", "cgo", "pprof",
                                                          "arm64", "arm64-strip"})),
                         testing::target_test_name);

constexpr char kStart[] = "\x30\x77\xaf\x0c\x92\x74\x08\x02\x41\xe1\xc1\x07\xe6\xd6\x18\xe6";
constexpr char kEnd[] = "\xf9\x32\x43\x31\x86\x18\x20\x72\x00\x82\x42\x10\x41\x16\xd8\xf2";

std::vector<uint8_t> header(uint8_t flags) {
  std::string h = "\xff Go buildinf:";
  std::vector<uint8_t> b(h.begin(), h.end());
  b.push_back(8);
  b.push_back(flags);
  b.resize(32);
  return b;
}

void append_varint_string(std::vector<uint8_t>& b, const std::string& s) {
  for (uint64_t n = s.size();; n >>= 7) {
    if (n < 0x80) {
      b.push_back(uint8_t(n));
      break;
    }
    b.push_back(uint8_t(n | 0x80));
  }
  b.insert(b.end(), s.begin(), s.end());
}

std::string modinfo(const std::string& lines) {
  return std::string(kStart, 16) + lines + std::string(kEnd, 16);
}

Result<BuildInfo> read_blob(const std::vector<uint8_t>& blob,
                            std::vector<SynthSection> extra = {}) {
  extra.push_back({".go.buildinfo", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, 0x500000, blob});
  auto elf = ElfFile::from_bytes(build_elf(extra), "/x/synth");
  if (!elf) return elf.error();
  return read_buildinfo(*elf);
}

TEST(BuildInfoSynthetic, InlineStrings) {
  auto b = header(2);
  append_varint_string(b, "go1.27rc1");
  append_varint_string(
      b, modinfo("path\texample.com/app/cmd/x\nmod\texample.com/app\tv1.2.3\th1:abc=\n"
                 "dep\tgolang.org/x/sys\tv0.1.0\th1:x=\n"
                 "build\t-trimpath=true\nbuild\tvcs.revision=abc=def\n"));
  auto bi = read_blob(b);
  ASSERT_TRUE(bi) << bi.error().message;
  EXPECT_EQ(bi->go_version.minor, 27);
  EXPECT_EQ(bi->path, "example.com/app/cmd/x");
  EXPECT_EQ(bi->module_path, "example.com/app");
  EXPECT_EQ(bi->module_version, "v1.2.3");
  ASSERT_EQ(bi->settings.size(), 2u);
  EXPECT_EQ(bi->settings[1].first, "vcs.revision");
  EXPECT_EQ(bi->settings[1].second, "abc=def");
}

TEST(BuildInfoSynthetic, MissingModuleInfo) {
  auto b = header(2);
  append_varint_string(b, "go1.26.8");
  append_varint_string(b, "");
  auto bi = read_blob(b);
  ASSERT_TRUE(bi) << bi.error().message;
  EXPECT_EQ(bi->go_version.raw, "go1.26.8");
  EXPECT_EQ(bi->path, "");
}

TEST(BuildInfoSynthetic, PointerFormat) {
  // Before Go 1.18: header words point at Go string headers {ptr, len}.
  const uint64_t base = 0x600000;
  std::string version = "go1.17.13", mod = modinfo("path\told/app\nmod\told/app\t(devel)\t\n");
  std::vector<uint8_t> data(32);
  put(data, 0, base + 32);
  put(data, 8, uint64_t(version.size()));
  put(data, 16, base + 32 + version.size());
  put(data, 24, uint64_t(mod.size()));
  data.insert(data.end(), version.begin(), version.end());
  data.insert(data.end(), mod.begin(), mod.end());
  auto b = header(0);
  put(b, 16, base);
  put(b, 24, base + 16);
  auto bi = read_blob(b, {{".rodata", SHT_PROGBITS, SHF_ALLOC, base, data}});
  ASSERT_TRUE(bi) << bi.error().message;
  EXPECT_EQ(bi->go_version.minor, 17);
  EXPECT_EQ(bi->path, "old/app");

  // A pointer to nowhere.
  put(b, 16, uint64_t(0xdead0000));
  auto bad = read_blob(b, {{".rodata", SHT_PROGBITS, SHF_ALLOC, base, data}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("not in a loadable segment"), std::string::npos);
  // A string length far past the data.
  put(b, 16, base);
  put(data, 8, uint64_t(1) << 40);
  bad = read_blob(b, {{".rodata", SHT_PROGBITS, SHF_ALLOC, base, data}});
  ASSERT_FALSE(bad);
}

TEST(BuildInfoHostile, VarintLengthPastEnd) {
  auto b = header(2);
  b.push_back(0xe8);  // 1000, but only a few bytes follow
  b.push_back(0x07);
  b.insert(b.end(), {'g', 'o', '1'});
  auto bi = read_blob(b);
  ASSERT_FALSE(bi);
  EXPECT_NE(bi.error().message.find("version runs past the end"), std::string::npos)
      << bi.error().message;

  auto m = header(2);
  append_varint_string(m, "go1.26.8");
  m.push_back(0xff);  // module info length: a varint that never ends
  m.push_back(0xff);
  bi = read_blob(m);
  ASSERT_FALSE(bi);
  EXPECT_NE(bi.error().message.find("bad module info length"), std::string::npos);

  auto huge = header(2);
  for (int i = 0; i < 9; i++) huge.push_back(0xff);
  huge.push_back(0x01);  // 2^64 - 1
  bi = read_blob(huge);
  ASSERT_FALSE(bi);
}

TEST(BuildInfoHostile, BadHeaderAndEmptyVersion) {
  auto b = header(2);
  b[3] = 'X';
  append_varint_string(b, "go1.26.8");
  EXPECT_FALSE(read_blob(b));
  std::vector<uint8_t> short_blob = {0xff, ' ', 'G', 'o'};
  EXPECT_FALSE(read_blob(short_blob));
  auto empty = header(2);
  append_varint_string(empty, "");
  append_varint_string(empty, "");
  auto bi = read_blob(empty);
  ASSERT_FALSE(bi);
  EXPECT_NE(bi.error().message.find("no Go version"), std::string::npos);
  auto garbage = header(2);
  append_varint_string(garbage, "not-a-version");
  EXPECT_FALSE(read_blob(garbage));
}

TEST(BuildInfoHostile, NotAGoProgram) {
  auto elf = ElfFile::from_bytes(
      build_elf({{".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, 0x1000, {0xc3}}}), "/bin/c");
  ASSERT_TRUE(elf);
  auto bi = read_buildinfo(*elf);
  ASSERT_FALSE(bi);
  EXPECT_EQ(bi.error().message, "/bin/c: not a Go program: no .go.buildinfo section");

  auto self = ElfFile::open("/proc/self/exe");
  ASSERT_TRUE(self) << self.error().message;
  EXPECT_FALSE(read_buildinfo(*self));
}

TEST(BuildInfoHostile, RandomBlobsNeverCrash) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; i++) {
    auto b = header(uint8_t(rng() % 4));
    b[14] = uint8_t(rng() % 2 ? 8 : rng());
    b.resize(32 + rng() % 64);
    for (size_t j = 14; j < b.size(); j++) {
      if (j >= 16 || rng() % 4 == 0) b[j] = uint8_t(rng());
    }
    auto bi = read_blob(b);
    if (!bi) {
      EXPECT_FALSE(bi.error().message.empty());
    }
  }
}

}  // namespace
}  // namespace leakhound::binary
