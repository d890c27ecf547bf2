// Where threads keep g in TLS (cgo_tls.h, find_tls_g_ref): the real runtime
// of every Go toolchain 1.18-1.27 (internally and externally linked, PIE,
// stripped: all at fs-8, as ptrace confirmed on running targets), arm64 at
// tpidr_el0+16 (scripts/arm64-vm.sh ran it), and hand-made code for the other
// forms: an offset moved by C TLS variables, a GOT slot (a Go shared object),
// and hostile input.
#include "goruntime/cgo_tls.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "../binary/test_support.h"
#include "binary/pclntab.h"
#include "goruntime/profile_layout.h"
#include "goruntime/tls_g_ref.h"
#include "target/memory.h"

namespace leakhound::goruntime {
namespace {

using binary::testing::build_elf;
using binary::testing::SynthSection;

struct Target {
  std::string name;  // goleak-go1.26-cgo
  int minor;
  std::string variant;
  bool external = false;  // externally linked: .symtab has runtime.tlsg
};

std::vector<Target> amd64_targets() {
  std::vector<Target> out;
  for (int minor = kMinGoMinor; minor <= kMaxGoMinor; minor++) {
    for (const char* prog : {"goleak", "heapleak"}) {
      for (const char* var : {"default", "strip", "pie", "cgo"}) {
        // goleak's cgo is only the standard library's (net): linked internally.
        const bool external = std::string(prog) == "heapleak" && std::string(var) == "cgo";
        out.push_back({fmt::format("{}-go1.{}-{}", prog, minor, var), minor, var, external});
      }
    }
    out.push_back({fmt::format("cgoleak-go1.{}-cgo", minor), minor, "cgo", true});
  }
  return out;
}

// open_target names heapleak targets only: open any target by path.
std::optional<binary::ElfFile> open_path(const std::string& name) {
  const std::string path = binary::testing::targets_dir() + "/" + name;
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << "missing test target " << path
                  << ": build it with scripts/build-targets.sh (or set LEAKHOUND_TARGETS_DIR)";
    return std::nullopt;
  }
  auto elf = binary::ElfFile::open(path);
  if (!elf) {
    ADD_FAILURE() << elf.error().message;
    return std::nullopt;
  }
  return std::move(*elf);
}

TEST(CgoTls, EveryRuntimeFindsGAtFsMinus8) {
  for (const Target& t : amd64_targets()) {
    SCOPED_TRACE(t.name);
    auto elf = open_path(t.name);
    if (!elf) continue;
    auto pcln = binary::Pclntab::load(*elf);
    ASSERT_TRUE(pcln) << pcln.error().message;
    auto a = find_g_tls_access(*elf, *pcln);
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(a->function, "runtime.asmcgocall");
    ASSERT_TRUE(a->offset);
    EXPECT_EQ(*a->offset, -8);
    EXPECT_FALSE(a->got_slot);
    // runtime.tlsg - roundup(PT_TLS): only externally linked binaries have the symbol.
    if (t.external) {
      ASSERT_TRUE(a->tlsg_formula);
      EXPECT_EQ(*a->tlsg_formula, -8);
    } else {
      EXPECT_FALSE(a->tlsg_formula);
    }
    auto off = find_g_tls_offset(*elf, *pcln);
    ASSERT_TRUE(off) << off.error().message;
    EXPECT_EQ(*off, -8);
    // Each function on its own (names from the pclntab, so stripped builds too).
    for (const char* fn : {"runtime.asmcgocall", "runtime.mcall", "runtime.systemstack"}) {
      auto f = pcln->func_by_name(fn);
      ASSERT_TRUE(f) << fn;
      auto r = find_tls_g_ref(*elf, f->entry, f->end);
      ASSERT_TRUE(r) << fn << ": " << r.error().message;
      ASSERT_TRUE(r->offset) << fn;
      EXPECT_EQ(*r->offset, -8) << fn;
      EXPECT_GE(r->insn, f->entry);
      EXPECT_LT(r->insn, f->end);
    }
  }
}

// arm64 keeps g in TLS only with cgo, but runtime.load_g and save_g address
// it the same way in every build: tpidr_el0 + 16 (the thread control block),
// runtime.tls_g being the only TLS variable of a Go executable.
TEST(CgoTls, Arm64FindsGAtTpPlus16) {
  for (int minor = kMinGoMinor; minor <= kMaxGoMinor; minor++) {
    for (const char* var : {"arm64", "arm64-strip"}) {
      SCOPED_TRACE(fmt::format("go1.{} {}", minor, var));
      auto elf = open_path(fmt::format("heapleak-go1.{}-{}", minor, var));
      if (!elf) continue;
      auto pcln = binary::Pclntab::load(*elf);
      ASSERT_TRUE(pcln) << pcln.error().message;
      auto a = find_g_tls_access(*elf, *pcln);
      ASSERT_TRUE(a) << a.error().message;
      EXPECT_EQ(a->function, "runtime.load_g");
      ASSERT_TRUE(a->offset);
      EXPECT_EQ(*a->offset, 16);
      EXPECT_FALSE(a->got_slot);
      // Linked internally: no runtime.tls_g in .symtab (the cgo builds of
      // scripts/arm64-vm.sh, linked externally, have it: 16 by the formula).
      EXPECT_FALSE(a->tlsg_formula);
      auto off = find_g_tls_offset(*elf, *pcln);
      ASSERT_TRUE(off) << off.error().message;
      EXPECT_EQ(*off, 16);
    }
  }
}

// ---- Hand-made code: .text at 0x1000, a writable .got at 0x2000.
constexpr uint64_t kText = 0x1000, kGot = 0x2000;

binary::ElfFile synth(std::vector<uint8_t> code, uint16_t machine = EM_X86_64) {
  auto elf = binary::ElfFile::from_bytes(
      build_elf({{".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, kText, std::move(code)},
                 {".got", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, kGot, std::vector<uint8_t>(8)}},
                machine),
      "/synth");
  EXPECT_TRUE(elf) << elf.error().message;
  return std::move(*elf);
}

Result<TlsGRef> ref_of(const std::vector<uint8_t>& code) {
  auto elf = synth(code);
  return find_tls_g_ref(elf, kText, kText + code.size());
}

// Instructions as Go's linker emits them.
const std::vector<uint8_t> kLoadFsMinus32 = {0x64, 0x48, 0x8b, 0x3c, 0x25,
                                             0xe0, 0xff, 0xff, 0xff};  // mov %fs:-32,%rdi
const std::vector<uint8_t> kMovMinus32Rcx = {0x48, 0xc7, 0xc1, 0xe0, 0xff, 0xff, 0xff};
const std::vector<uint8_t> kLoadFsRcx = {0x64, 0x48, 0x8b, 0x39};   // mov %fs:(%rcx),%rdi
const std::vector<uint8_t> kStoreFsRcx = {0x64, 0x48, 0x89, 0x31};  // mov %rsi,%fs:(%rcx)

std::vector<uint8_t> cat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  out.push_back(0xc3);  // ret
  return out;
}

// mov SLOT(%rip),%rcx at kText + at: the GOT slot kGot.
std::vector<uint8_t> load_got_rcx(uint64_t at) {
  const int32_t disp = static_cast<int32_t>(kGot - (kText + at + 7));
  std::vector<uint8_t> v = {0x48, 0x8b, 0x0d};
  for (int i = 0; i < 4; i++) v.push_back(static_cast<uint8_t>(disp >> (8 * i)));
  return v;
}

TEST(CgoTls, ConstantOffsetsMovedByCTls) {
  // Externally linked with a 16-byte C __thread: g at fs-32 (measured on go1.21-1.27).
  auto r = ref_of(cat({kLoadFsMinus32}));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->offset, -32);
  EXPECT_EQ(r->insn, kText);
  // The same, PIE: the linker relaxed the GOT load to an immediate.
  r = ref_of(cat({{0x48, 0x89, 0xe2}, kMovMinus32Rcx, kLoadFsRcx, kStoreFsRcx}));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->offset, -32);
  EXPECT_EQ(r->insn, kText + 3 + 7);
  EXPECT_FALSE(r->got_slot);
}

TEST(CgoTls, GotSlotIsReadFromTheProcess) {
  // A Go shared object (-buildmode=c-shared): initial-exec TLS through the GOT.
  auto code = cat({load_got_rcx(0), kLoadFsRcx});
  auto elf = synth(code);
  auto r = find_tls_g_ref(elf, kText, kText + code.size());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->offset);
  ASSERT_TRUE(r->got_slot);
  EXPECT_EQ(*r->got_slot, kGot);

  GTlsAccess a{"runtime.asmcgocall", std::nullopt, kGot, std::nullopt};
  auto off = g_tls_offset(elf, a);
  ASSERT_FALSE(off);
  EXPECT_NE(off.error().message.find("running process"), std::string::npos);

  constexpr uint64_t kBias = 0x7f0000000000;
  auto slot = [](int64_t v) {
    std::vector<uint8_t> b(8);
    std::memcpy(b.data(), &v, 8);
    return b;
  };
  target::FakeMemory mem;
  mem.map(kBias + kGot, slot(-72));  // what a C host with its own TLS gave go1.21/1.26 .so files
  off = g_tls_offset(elf, a, &mem, kBias);
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_EQ(*off, -72);
  EXPECT_FALSE(g_tls_offset(elf, a, &mem, 0));  // wrong bias: unmapped

  // An executable's slot must agree with runtime.tlsg; without memory the formula serves.
  a.tlsg_formula = -72;
  off = g_tls_offset(elf, a);
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_EQ(*off, -72);
  a.tlsg_formula = -8;
  EXPECT_FALSE(g_tls_offset(elf, a, &mem, kBias));
  a.tlsg_formula.reset();

  // Not relocated yet, or not a TLS offset at all.
  for (int64_t bad : {int64_t{0}, int64_t{16}, int64_t{-12}, int64_t{-1} << 40}) {
    target::FakeMemory m;
    m.map(kBias + kGot, slot(bad));
    EXPECT_FALSE(g_tls_offset(elf, a, &m, kBias)) << bad;
  }
  // A "slot" in code or outside the file is refused before reading memory.
  a.got_slot = kText;
  EXPECT_FALSE(g_tls_offset(elf, a, &mem, kBias));
  a.got_slot = kGot + 4;  // straddles the end of .got
  EXPECT_FALSE(g_tls_offset(elf, a, &mem, kBias));
}

TEST(CgoTls, ImplausibleConstantsAreErrors) {
  auto elf = synth(cat({kLoadFsMinus32}));
  for (int64_t bad : {int64_t{8}, int64_t{0}, int64_t{-12}, -(int64_t{32} << 20)}) {
    GTlsAccess a{"runtime.asmcgocall", bad, std::nullopt, std::nullopt};
    EXPECT_FALSE(g_tls_offset(elf, a)) << bad;
  }
  GTlsAccess none{"runtime.asmcgocall", std::nullopt, std::nullopt, std::nullopt};
  EXPECT_FALSE(g_tls_offset(elf, none));
}

TEST(CgoTls, UnknownBaseRegistersAreNotGuessed) {
  // %ecx overwritten (mov %eax,%ecx) between the base and the access.
  auto r = ref_of(cat({kMovMinus32Rcx, {0x89, 0xc1}, kLoadFsRcx}));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unknown value"), std::string::npos) << r.error().message;
  // A call in between (the callee may change %rcx).
  EXPECT_FALSE(ref_of(cat({kMovMinus32Rcx, {0xe8, 0, 0, 0, 0}, kLoadFsRcx})));
  // Set too long before the access.
  EXPECT_FALSE(ref_of(cat({kMovMinus32Rcx, std::vector<uint8_t>(8, 0x90), kLoadFsRcx})));
  // Another register holds the base: unrelated to %rcx.
  auto ok = ref_of(cat({kMovMinus32Rcx, {0x48, 0x89, 0xc2}, kLoadFsRcx}));  // mov %rax,%rdx
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->offset, -32);
  // A later access through an unknown register does not hide an earlier resolved one.
  ok = ref_of(cat({kLoadFsMinus32, {0xe8, 0, 0, 0, 0}, kLoadFsRcx}));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->offset, -32);
}

TEST(CgoTls, HostileCodeIsAClearError) {
  // Two different TLS places in one function: not the runtime's g accesses.
  auto r = ref_of(cat({kLoadFsMinus32, {0x64, 0x48, 0x89, 0x34, 0x25, 0xf8, 0xff, 0xff, 0xff}}));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("disagree"), std::string::npos) << r.error().message;
  // No FS access; undecodable bytes; empty and inverted bounds; beyond the file.
  r = ref_of({0xc3});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no FS-relative"), std::string::npos) << r.error().message;
  EXPECT_FALSE(ref_of(std::vector<uint8_t>(256, 0xff)));
  auto elf = synth(cat({kLoadFsMinus32}));
  EXPECT_FALSE(find_tls_g_ref(elf, kText, kText));
  EXPECT_FALSE(find_tls_g_ref(elf, kText + 8, kText));
  EXPECT_FALSE(find_tls_g_ref(elf, 0xffffffff0000, 0xffffffff0100));
  // The scan is bounded: an access after the first 4 KiB is not found.
  std::vector<uint8_t> big(5000, 0x90);
  big.insert(big.end(), kLoadFsMinus32.begin(), kLoadFsMinus32.end());
  auto far = synth(big);
  EXPECT_FALSE(find_tls_g_ref(far, kText, kText + big.size()));
  // Other machines.
  auto arm = synth({0xc0, 0x03, 0x5f, 0xd6}, EM_AARCH64);
  EXPECT_FALSE(find_tls_g_ref(arm, kText, kText + 4));
}

}  // namespace
}  // namespace leakhound::goruntime
