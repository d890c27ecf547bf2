// resolve_runtime_symbols against the heapleak targets built by every Go
// toolchain 1.18-1.27 (scripts/build-targets.sh). The disassembly recovery is
// checked against .symtab on the builds that have one, and on "-s -w" builds
// by where the globals lie and what the file says their start values are.
#include "goruntime/runtime_symbols.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "binary/buildinfo.h"
#include "binary/elf_file.h"
#include "binary/pclntab.h"
#include "goruntime/g_layout.h"
#include "goruntime/profile_layout.h"

namespace leakhound::goruntime {
namespace {

std::string targets_dir() {
  if (const char* d = std::getenv("LEAKHOUND_TARGETS_DIR"); d && *d) return d;
  return LEAKHOUND_SOURCE_DIR "/build/targets";
}

struct Target {
  binary::ElfFile elf;
  binary::Pclntab pclntab;
  binary::GoVersion version;
};

// Loads build/targets/heapleak-go1.<minor>-<variant>; fails the test (never
// skips) when the binary is missing or does not parse.
std::unique_ptr<Target> load(int minor, const std::string& variant) {
  const std::string path = fmt::format("{}/heapleak-go1.{}-{}", targets_dir(), minor, variant);
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << path << " is missing: run scripts/build-targets.sh";
    return nullptr;
  }
  auto elf = binary::ElfFile::open(path);
  if (!elf) {
    ADD_FAILURE() << path << ": " << elf.error().message;
    return nullptr;
  }
  auto pcln = binary::Pclntab::load(*elf);
  if (!pcln) {
    ADD_FAILURE() << path << ": " << pcln.error().message;
    return nullptr;
  }
  auto bi = binary::read_buildinfo(*elf);
  if (!bi) {
    ADD_FAILURE() << path << ": " << bi.error().message;
    return nullptr;
  }
  EXPECT_EQ(bi->go_version.minor, minor) << path;
  return std::make_unique<Target>(
      Target{std::move(*elf), std::move(*pcln), std::move(bi->go_version)});
}

const binary::Segment* segment_of(const binary::ElfFile& elf, uint64_t addr, uint64_t len) {
  for (const auto& s : elf.segments()) {
    if (s.type == PT_LOAD && len <= s.memsz && addr >= s.vaddr && addr - s.vaddr <= s.memsz - len)
      return &s;
  }
  return nullptr;
}

// The value at process start: file bytes, or 0 in the bss tail.
uint64_t start_value(const binary::ElfFile& elf, uint64_t addr, size_t width) {
  const binary::Segment* s = segment_of(elf, addr, width);
  if (!s) {
    ADD_FAILURE() << fmt::format("{:#x} is in no PT_LOAD segment", addr);
    return ~0ull;
  }
  if (addr >= s->vaddr + s->filesz) return 0;
  auto b = elf.read_vaddr(addr, width);
  if (!b) {
    ADD_FAILURE() << b.error().message;
    return ~0ull;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < width; i++) v |= uint64_t{(*b)[i]} << (8 * i);
  return v;
}

void expect_in_writable_data(const binary::ElfFile& elf, uint64_t addr, size_t width,
                             const char* what) {
  ASSERT_NE(addr, 0u) << what;
  const binary::Segment* s = segment_of(elf, addr, width);
  ASSERT_NE(s, nullptr) << what << fmt::format(" at {:#x} is outside every segment", addr);
  EXPECT_TRUE(s->flags & PF_W) << what;
  EXPECT_FALSE(s->flags & PF_X) << what;
}

struct Param {
  int minor;
  std::string variant;
};

void PrintTo(const Param& p, std::ostream* os) { *os << "go1." << p.minor << "-" << p.variant; }

std::string param_name(const testing::TestParamInfo<Param>& p) {
  std::string v = p.param.variant;
  for (char& c : v) c = c == '-' ? '_' : c;
  return fmt::format("go1_{}_{}", p.param.minor, v);
}

std::vector<Param> params(std::initializer_list<const char*> variants) {
  std::vector<Param> out;
  for (int minor = kMinGoMinor; minor <= kMaxGoMinor; minor++) {
    for (const char* v : variants) out.push_back({minor, v});
  }
  return out;
}

// MemProfileRate in the file: 524288 from 1.20; before, runtime.init sets it.
uint64_t file_rate(int minor) { return minor >= 20 ? 512u * 1024 : 0; }

std::string dump(const RuntimeSymbols& s) {
  std::string notes;
  for (const auto& n : s.notes) notes += "\n  note: " + n;
  return fmt::format(
      "mbuckets={:#x} MemProfileRate={:#x} mProfCycle={:#x} disableMemoryProfiling={:#x} "
      "allgs={:#x} allglen={:#x}{}",
      s.mbuckets, s.mem_profile_rate, s.mprof_cycle, s.disable_memory_profiling, s.allgs, s.allglen,
      notes);
}

// ---- Builds with .symtab: the disassembly must find exactly what .symtab says.
class RuntimeSymbolsSymtab : public testing::TestWithParam<Param> {};

TEST_P(RuntimeSymbolsSymtab, DisassemblyMatchesSymtab) {
  auto t = load(GetParam().minor, GetParam().variant);
  ASSERT_TRUE(t);
  ASSERT_TRUE(t->elf.has_symtab());
  auto sym = resolve_runtime_symbols(t->elf, t->pclntab, t->version);
  ASSERT_TRUE(sym) << sym.error().message;
  EXPECT_TRUE(sym->globals_from_symtab);
  for (uint64_t a : {sym->mbuckets, sym->mem_profile_rate, sym->mprof_cycle,
                     sym->disable_memory_profiling, sym->allgs, sym->allglen}) {
    EXPECT_NE(a, 0u) << dump(*sym);
  }

  auto dis = resolve_runtime_symbols(t->elf, t->pclntab, t->version, {.ignore_symtab = true});
  ASSERT_TRUE(dis) << dis.error().message;
  EXPECT_FALSE(dis->globals_from_symtab);
  EXPECT_EQ(dis->mbuckets, sym->mbuckets);
  EXPECT_EQ(dis->mem_profile_rate, sym->mem_profile_rate);
  EXPECT_EQ(dis->mprof_cycle, sym->mprof_cycle);
  EXPECT_EQ(dis->disable_memory_profiling, sym->disable_memory_profiling);
  EXPECT_EQ(dis->allgs, sym->allgs);
  EXPECT_EQ(dis->allglen, sym->allglen);
  EXPECT_TRUE(dis->notes.empty()) << dump(*dis);

  // The linker leaves the sampler on only when the heap profile is reachable.
  const uint64_t disabled = start_value(t->elf, sym->disable_memory_profiling, 1);
  EXPECT_EQ(disabled, GetParam().variant == "pprof" ? 0u : 1u);
  EXPECT_EQ(start_value(t->elf, sym->mem_profile_rate, 8), file_rate(GetParam().minor));
}

INSTANTIATE_TEST_SUITE_P(Go, RuntimeSymbolsSymtab,
                         testing::ValuesIn(params({"default", "pie", "cgo", "pprof", "arm64"})),
                         param_name);

// ---- "-s -w" builds: no .symtab; different layout from the default build, so
// check placement and start values instead of addresses.
class RuntimeSymbolsStripped : public testing::TestWithParam<Param> {};

TEST_P(RuntimeSymbolsStripped, GlobalsRecovered) {
  auto t = load(GetParam().minor, GetParam().variant);
  ASSERT_TRUE(t);
  ASSERT_FALSE(t->elf.has_symtab());
  auto r = resolve_runtime_symbols(t->elf, t->pclntab, t->version);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->globals_from_symtab);
  EXPECT_TRUE(r->notes.empty()) << dump(*r);
  expect_in_writable_data(t->elf, r->mbuckets, 8, "mbuckets");
  expect_in_writable_data(t->elf, r->mem_profile_rate, 8, "MemProfileRate");
  expect_in_writable_data(t->elf, r->mprof_cycle, 4, "mProfCycle");
  expect_in_writable_data(t->elf, r->disable_memory_profiling, 1, "disableMemoryProfiling");
  expect_in_writable_data(t->elf, r->allgs, 24, "allgs");
  expect_in_writable_data(t->elf, r->allglen, 8, "allglen");
  if (HasFatalFailure()) return;
  EXPECT_EQ(start_value(t->elf, r->mem_profile_rate, 8), file_rate(GetParam().minor)) << dump(*r);
  EXPECT_EQ(start_value(t->elf, r->mbuckets, 8), 0u);
  EXPECT_EQ(start_value(t->elf, r->mprof_cycle, 4), 0u);
  EXPECT_EQ(start_value(t->elf, r->allglen, 8), 0u);
  EXPECT_EQ(start_value(t->elf, r->disable_memory_profiling, 1), 1u);  // no pprof in heapleak
  std::set<uint64_t> distinct{r->mbuckets,    r->mem_profile_rate,
                              r->mprof_cycle, r->disable_memory_profiling,
                              r->allgs,       r->allglen};
  EXPECT_EQ(distinct.size(), 6u) << dump(*r);
}

INSTANTIATE_TEST_SUITE_P(Go, RuntimeSymbolsStripped,
                         testing::ValuesIn(params({"strip", "arm64-strip"})), param_name);

// ---- Function entries come from the pclntab in every build.
class RuntimeSymbolsFunctions : public testing::TestWithParam<Param> {};

TEST_P(RuntimeSymbolsFunctions, AllFound) {
  auto t = load(GetParam().minor, GetParam().variant);
  ASSERT_TRUE(t);
  auto r = resolve_runtime_symbols(t->elf, t->pclntab, t->version);
  ASSERT_TRUE(r) << r.error().message;
  const std::pair<const char*, uint64_t> fns[] = {
      {"runtime.mProf_Malloc", r->fn_mprof_malloc},
      {"runtime.mProf_Free", r->fn_mprof_free},
      {"runtime.setprofilebucket", r->fn_setprofilebucket},
      {"runtime.profilealloc", r->fn_profilealloc},
      {"runtime.freeSpecial", r->fn_free_special},
      {"runtime.mallocgc", r->fn_mallocgc},
  };
  for (const auto& [name, entry] : fns) {
    EXPECT_NE(entry, 0u) << name;
    if (t->elf.has_symtab()) {
      auto s = t->elf.symbol(name);
      ASSERT_TRUE(s) << name;
      EXPECT_EQ(entry, s->value) << name;
    }
    auto seg = segment_of(t->elf, entry, 1);
    ASSERT_NE(seg, nullptr) << name;
    EXPECT_TRUE(seg->flags & PF_X) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Go, RuntimeSymbolsFunctions,
                         testing::ValuesIn(params({"default", "strip", "pie", "cgo", "pprof",
                                                   "arm64", "arm64-strip"})),
                         param_name);

// ---- runtime.work.goroutineLeak.pending (1.26+): recovered from gcStart's
// code it must be where .symtab and the offsets table put it; in a stripped
// build, a zero byte in writable data with `enabled` next to it.
class GoroutineLeakFlag : public testing::TestWithParam<Param> {};

TEST_P(GoroutineLeakFlag, CodeAgreesWithSymtab) {
  auto t = load(GetParam().minor, GetParam().variant);
  ASSERT_TRUE(t);
  auto layout = g_layout(t->version);
  ASSERT_TRUE(layout) << layout.error().message;
  ASSERT_EQ(layout->leak_pending, 448);  // go1.26.8 and go1.27.4 (docs/go-runtime.md)
  ASSERT_EQ(layout->leak_count, 456);
  auto code = resolve_goroutine_leak_pending(t->elf, t->pclntab, layout->leak_pending,
                                             {.ignore_symtab = true});
  ASSERT_TRUE(code) << code.error().message;
  expect_in_writable_data(t->elf, *code, 1, "goroutineLeak.pending");
  EXPECT_EQ(start_value(t->elf, *code, 1), 0u);
  if (t->elf.has_symtab()) {
    auto work = t->elf.symbol("runtime.work");
    ASSERT_TRUE(work);
    EXPECT_EQ(*code, work->value + 448);
    auto sym = resolve_goroutine_leak_pending(t->elf, t->pclntab, layout->leak_pending);
    ASSERT_TRUE(sym) << sym.error().message;
    EXPECT_EQ(*sym, *code);
  }
}

INSTANTIATE_TEST_SUITE_P(Go, GoroutineLeakFlag,
                         testing::ValuesIn(std::vector<Param>{{26, "default"},
                                                              {26, "strip"},
                                                              {26, "pie"},
                                                              {26, "cgo"},
                                                              {27, "default"},
                                                              {27, "strip"},
                                                              {27, "pie"},
                                                              {27, "cgo"}}),
                         param_name);

// ---- runtime.debug.tracebackancestors (--goroutine-ancestry): the first
// 4-byte global saveAncestors reads, in every release, stripped or not, amd64
// and arm64; with .symtab it lies inside runtime.debug (the e2e cases check
// that the runtime itself then records creators).
class TracebackAncestors : public testing::TestWithParam<Param> {};

TEST_P(TracebackAncestors, FoundInsideRuntimeDebug) {
  auto t = load(GetParam().minor, GetParam().variant);
  ASSERT_TRUE(t);
  auto at = resolve_traceback_ancestors(t->elf, t->pclntab);
  ASSERT_TRUE(at) << at.error().message;
  expect_in_writable_data(t->elf, *at, 4, "tracebackancestors");
  EXPECT_EQ(start_value(t->elf, *at, 4), 0u);
  if (t->elf.has_symtab()) {
    auto debug = t->elf.symbol("runtime.debug");
    ASSERT_TRUE(debug);
    EXPECT_GE(*at, debug->value);
    EXPECT_LE(*at + 4, debug->value + debug->size);
    // Not the write barrier flag, which saveAncestors also compares.
    if (auto wb = t->elf.symbol("runtime.writeBarrier")) {
      EXPECT_NE(*at, wb->value);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Go, TracebackAncestors,
                         testing::ValuesIn(params({"default", "strip", "pie", "cgo", "arm64",
                                                   "arm64-strip"})),
                         param_name);

// Releases without the detector have no flag to find; no guess either.
TEST(GoroutineLeakFlagErrors, AbsentBefore126) {
  auto t = load(25, "default");
  ASSERT_TRUE(t);
  auto layout = g_layout(t->version);
  ASSERT_TRUE(layout);
  EXPECT_EQ(layout->leak_pending, kAbsent);
  auto r = resolve_goroutine_leak_pending(t->elf, t->pclntab, layout->leak_pending);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no GC goroutine leak detector"), std::string::npos);
  // The code rule on a 1.25 binary finds nothing rather than something.
  auto code = resolve_goroutine_leak_pending(t->elf, t->pclntab, 448, {.ignore_symtab = true});
  EXPECT_FALSE(code);
}

// ---- The heuristics fail loudly instead of guessing: with the 1.21-1.23
// rules (sampling test in mallocgc) a 1.27 binary has no common candidate,
// because 1.24+ moved the MemProfileRate test into the mallocgc* helpers.
TEST(RuntimeSymbolsErrors, WrongVersionRulesFailInsteadOfGuessing) {
  auto t = load(27, "strip");
  ASSERT_TRUE(t);
  auto old = binary::parse_go_version("go1.21.13");
  ASSERT_TRUE(old) << old.error().message;
  auto r = resolve_runtime_symbols(t->elf, t->pclntab, *old);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("runtime.MemProfileRate"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("runtime.mallocgc"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace leakhound::goruntime
