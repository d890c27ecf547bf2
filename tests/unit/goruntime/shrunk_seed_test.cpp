// tests/fuzz/shrink_go_elf.py makes fuzz_elf's seeds: a real Go binary cut
// down to a few kilobytes. A seed is only worth fuzzing from if every parser
// reads from it what it reads from the original, so this compares them: build
// info, the function table and line/inline frames of the kept functions, the
// moduledata, the runtime globals recovered by disassembly (and from .symtab),
// and the runtime.g layout from the seed's DWARF against the generated table.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "../binary/test_support.h"
#include "binary/buildinfo.h"
#include "binary/dwarf_types.h"
#include "binary/elf_file.h"
#include "binary/pclntab.h"
#include "goruntime/g_layout.h"
#include "goruntime/runtime_symbols.h"

namespace leakhound::goruntime {
namespace {

using binary::ElfFile;
using binary::Pclntab;
using binary::testing::Target;

struct Seed {
  Target target;
  std::string flags;  // shrink_go_elf.py options
  std::string tag;
};

void PrintTo(const Seed& s, std::ostream* os) { *os << s.target.name() << " " << s.flags; }

std::vector<Seed> seeds() {
  std::vector<Seed> out;
  for (const auto& v : binary::testing::kVersions) {
    // shrink_go_elf.py re-encodes the 1.20+ pclntab only (as scripts/fuzz.sh).
    if (Target{v, "default"}.minor() < 20) continue;
    for (const char* variant : {"default", "arm64"}) {
      out.push_back({{v, variant}, "", "plain"});
      out.push_back({{v, variant}, "--symtab --dwarf zlib", "symtab_dwarf"});
      out.push_back({{v, variant}, "--no-section-headers", "bare"});
    }
    for (const char* variant : {"cgo", "pie"})
      out.push_back({{v, variant}, "--symtab --dwarf zlib", "symtab_dwarf"});
  }
  out.push_back({{"1.26", "default"}, "--symtab --dwarf plain", "symtab_dwarf_plain"});
  return out;
}

std::string seed_name(const ::testing::TestParamInfo<Seed>& info) {
  std::string s =
      binary::testing::target_test_name({info.param.target, info.index}) + "_" + info.param.tag;
  return s;
}

class ShrunkSeed : public ::testing::TestWithParam<Seed> {
 protected:
  void SetUp() override {
    const Seed& s = GetParam();
    auto orig = binary::testing::open_target(s.target);
    ASSERT_TRUE(orig);
    orig_ = std::move(*orig);
    path_ = (std::filesystem::temp_directory_path() /
             ("lh-seed-" + std::to_string(::getpid()) + "-" + s.tag))
                .string();
    const std::string cmd = "python3 " LEAKHOUND_SOURCE_DIR "/tests/fuzz/shrink_go_elf.py " +
                            s.target.path() + " " + path_ + " " + s.flags;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    auto seed = ElfFile::open(path_);
    ASSERT_TRUE(seed) << seed.error().message;
    seed_ = std::move(*seed);
  }
  void TearDown() override {
    if (!path_.empty()) std::filesystem::remove(path_);
  }

  std::optional<ElfFile> orig_, seed_;
  std::string path_;
};

TEST_P(ShrunkSeed, ParsersReadWhatTheyReadFromTheOriginal) {
  const auto size = std::filesystem::file_size(path_);
  EXPECT_LT(size, std::filesystem::file_size(GetParam().target.path()) / 10);

  auto obi = binary::read_buildinfo(*orig_), sbi = binary::read_buildinfo(*seed_);
  ASSERT_TRUE(obi) << obi.error().message;
  ASSERT_TRUE(sbi) << sbi.error().message;
  EXPECT_EQ(sbi->go_version.minor, obi->go_version.minor);
  EXPECT_EQ(sbi->path, obi->path);

  auto op = Pclntab::load(*orig_), sp = Pclntab::load(*seed_);
  ASSERT_TRUE(op) << op.error().message;
  ASSERT_TRUE(sp) << sp.error().message;
  EXPECT_EQ(sp->text_start(), op->text_start());
  EXPECT_EQ(sp->moduledata(), op->moduledata());
  EXPECT_EQ(sp->gofunc(), op->gofunc());
  EXPECT_LT(sp->num_funcs(), op->num_funcs() / 10);

  // Every kept function but the last (the successors kept for the ends):
  // same entry and end, same frames (inline trees included) at every pc.
  size_t compared = 0, inlined = 0;
  std::vector<binary::FuncInfo> kept;
  sp->for_each_func([&](const binary::FuncInfo& f) { kept.push_back(f); });
  for (const auto& f : kept) {
    if (!f.name.starts_with("main.") && f.name != "runtime.mallocgc" &&
        f.name != "runtime.newproc1")
      continue;
    auto of = op->func_for_pc(f.entry);
    ASSERT_TRUE(of) << f.name;
    EXPECT_EQ(of->name, f.name);
    EXPECT_EQ(of->end, f.end) << f.name;
    for (uint64_t pc = f.entry; pc < f.end; pc += sp->min_lc()) {
      auto a = op->frames(pc), b = sp->frames(pc);
      ASSERT_EQ(a.size(), b.size()) << f.name << " pc " << std::hex << pc;
      for (size_t i = 0; i < a.size(); i++) {
        EXPECT_EQ(a[i].function, b[i].function);
        EXPECT_EQ(a[i].file, b[i].file);
        EXPECT_EQ(a[i].line, b[i].line);
      }
      inlined += a.size() > 1;
    }
    compared++;
  }
  EXPECT_GE(compared, 5u);
  EXPECT_GT(inlined, 0u) << "no inlined frames compared";

  ResolveOptions dis;
  dis.ignore_symtab = true;
  auto orig_syms = resolve_runtime_symbols(*orig_, *op, obi->go_version, dis);
  ASSERT_TRUE(orig_syms) << orig_syms.error().message;
  for (bool ignore_symtab : {true, false}) {
    ResolveOptions o;
    o.ignore_symtab = ignore_symtab;
    auto r = resolve_runtime_symbols(*seed_, *sp, sbi->go_version, o);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->mbuckets, orig_syms->mbuckets);
    EXPECT_EQ(r->mem_profile_rate, orig_syms->mem_profile_rate);
    EXPECT_EQ(r->mprof_cycle, orig_syms->mprof_cycle);
    EXPECT_EQ(r->disable_memory_profiling, orig_syms->disable_memory_profiling);
    EXPECT_EQ(r->allgs, orig_syms->allgs);
    EXPECT_EQ(r->allglen, orig_syms->allglen);
    EXPECT_EQ(r->fn_mallocgc, orig_syms->fn_mallocgc);
    EXPECT_EQ(r->fn_mprof_flush, orig_syms->fn_mprof_flush);
    EXPECT_EQ(r->globals_from_symtab, !ignore_symtab && seed_->has_symtab());
  }

  if (GetParam().flags.find("--dwarf") != std::string::npos) {
    auto dw = binary::DwarfTypes::open(path_);
    ASSERT_TRUE(dw) << dw.error().message;
    auto l = g_layout_from_dwarf(*dw, *seed_, sbi->go_version.minor);
    ASSERT_TRUE(l) << l.error().message;
    auto t = g_layout(sbi->go_version);
    ASSERT_TRUE(t);
    EXPECT_EQ(l->g_size, t->g_size);
    EXPECT_EQ(l->sched_bp, t->sched_bp);
    EXPECT_EQ(l->goid, t->goid);
    EXPECT_EQ(l->syscallbp, t->syscallbp);
    EXPECT_EQ(l->parent_goid, t->parent_goid);
    EXPECT_EQ(l->m_curg, t->m_curg);
    EXPECT_EQ(l->wait_reasons, t->wait_reasons);
  } else {
    EXPECT_FALSE(seed_->has_symtab());
  }
  if (GetParam().flags.find("--no-section-headers") != std::string::npos) {
    EXPECT_TRUE(seed_->sections().empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Go, ShrunkSeed, ::testing::ValuesIn(seeds()), seed_name);

}  // namespace
}  // namespace leakhound::goruntime
