#include "binary/pclntab.h"

#include <gtest/gtest.h>

#include "binary/buildinfo.h"
#include "test_support.h"

namespace leakhound::binary {
namespace {

using testing::all_targets;
using testing::Target;

class PclntabTarget : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    elf_ = testing::open_target(GetParam());
    ASSERT_TRUE(elf_);
    auto t = Pclntab::load(*elf_);
    ASSERT_TRUE(t) << t.error().message;
    tab_ = std::move(*t);
  }
  // The symbol's value where the binary has .symtab, nullopt otherwise.
  std::optional<uint64_t> symtab_value(const std::string& name) const {
    if (!elf_->has_symtab()) return std::nullopt;
    auto s = elf_->symbol(name);
    EXPECT_TRUE(s) << name << " missing from .symtab";
    return s ? std::optional(s->value) : std::nullopt;
  }
  // First PC of `fn` whose frames satisfy `pred`.
  template <typename P>
  std::optional<uint64_t> find_pc(const FuncInfo& fn, P pred) const {
    for (uint64_t pc = fn.entry; pc < fn.end; pc += tab_->min_lc()) {
      if (pred(tab_->frames(pc))) return pc;
    }
    return std::nullopt;
  }

  std::optional<ElfFile> elf_;
  std::optional<Pclntab> tab_;
};

TEST_P(PclntabTarget, HeaderAndModuledata) {
  EXPECT_EQ(tab_->min_lc(), GetParam().arm64() ? 4 : 1);
  EXPECT_GT(tab_->num_funcs(), 1000u);
  auto text = elf_->section(".text");
  ASSERT_TRUE(text);
  // External linking (cgo) puts C start-up code before runtime.text.
  EXPECT_GE(tab_->text_start(), text->addr);
  EXPECT_LT(tab_->text_start(), text->addr + text->size);
  EXPECT_NE(tab_->moduledata(), 0u) << "moduledata not found";
  EXPECT_NE(tab_->gofunc(), 0u);
  if (auto v = symtab_value("runtime.text")) {
    EXPECT_EQ(tab_->text_start(), *v);
  }
  if (auto v = symtab_value("runtime.firstmoduledata")) {
    EXPECT_EQ(tab_->moduledata(), *v);
  }
  // The linker named it go.func.* before 1.20.
  if (auto v = symtab_value(GetParam().minor() < 20 ? "go.func.*" : "go:func.*")) {
    EXPECT_EQ(tab_->gofunc(), *v);
  }
}

TEST_P(PclntabTarget, LeakOneEntry) {
  auto f = tab_->func_by_name("main.leakOne");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->name, "main.leakOne");
  EXPECT_LT(f->entry, f->end);
  if (auto v = symtab_value("main.leakOne")) {
    EXPECT_EQ(f->entry, *v);
  }
  auto by_pc = tab_->func_for_pc(f->entry + (f->end - f->entry) / 2);
  ASSERT_TRUE(by_pc);
  EXPECT_EQ(by_pc->name, "main.leakOne");
  EXPECT_EQ(by_pc->entry, f->entry);
  EXPECT_EQ(by_pc->end, f->end);
  EXPECT_FALSE(tab_->func_by_name("main.noSuchFunction"));
}

TEST_P(PclntabTarget, EntriesAgreeWithSymtab) {
  if (!elf_->has_symtab()) return;  // stripped: nothing to compare with
  size_t compared = 0;
  for (const auto& s : elf_->symbols()) {
    if (s.type != STT_FUNC || s.value == 0) continue;
    auto f = tab_->func_by_name(s.name);
    if (!f) continue;  // C functions, assembly without a Go symbol name, ...
    compared++;
    EXPECT_EQ(f->entry, s.value) << s.name;
    auto back = tab_->func_for_pc(s.value);
    ASSERT_TRUE(back) << s.name;
    EXPECT_EQ(back->entry, s.value) << s.name;
  }
  EXPECT_GT(compared, tab_->num_funcs() * 9 / 10);
}

TEST_P(PclntabTarget, FunctionTableIsConsistent) {
  size_t n = 0;
  uint64_t prev_end = 0;
  tab_->for_each_func([&](const FuncInfo& f) {
    n++;
    EXPECT_FALSE(f.name.empty());
    EXPECT_LE(f.entry, f.end);
    EXPECT_GE(f.entry, prev_end) << f.name;
    prev_end = f.end;
  });
  EXPECT_EQ(n, tab_->num_funcs());
  EXPECT_TRUE(tab_->frames(0).empty());
  EXPECT_TRUE(tab_->frames(tab_->text_start() - 1).empty());
  EXPECT_TRUE(tab_->frames(prev_end).empty());
  EXPECT_TRUE(tab_->frames(~uint64_t(0)).empty());
  EXPECT_FALSE(tab_->func_for_pc(prev_end + 0x100000000ull));
}

TEST_P(PclntabTarget, LeakLine) {
  int64_t leak_line = testing::source_line("// LEAK-LINE");
  ASSERT_GT(leak_line, 0) << "no LEAK-LINE marker in " << testing::heapleak_source();
  auto f = tab_->func_by_name("main.leakOne");
  ASSERT_TRUE(f);
  auto pc = find_pc(*f, [&](const std::vector<Frame>& fr) {
    return !fr.empty() && fr.front().line == leak_line;
  });
  ASSERT_TRUE(pc) << "no PC of main.leakOne is on line " << leak_line;
  auto frames = tab_->frames(*pc);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "main.leakOne");
  EXPECT_TRUE(frames[0].file.ends_with("heapleak/main.go")) << frames[0].file;
  EXPECT_EQ(frames[0].line, leak_line);
  EXPECT_EQ(frames[0].pc, *pc);
}

TEST_P(PclntabTarget, KnownInlinedCall) {
  // leaker's loop condition calls counter.Load (atomic.Int64 for Go 1.18),
  // a one-line method that is always inlined.
  int64_t line = testing::source_line("leakedBytes.Load()+int64(*leakSize) <= want");
  ASSERT_GT(line, 0);
  int64_t load_line = testing::source_line("func (c *counter) Load() int64");
  ASSERT_GT(load_line, 0);
  auto f = tab_->func_by_name("main.leaker");
  ASSERT_TRUE(f);
  auto pc = find_pc(*f, [](const std::vector<Frame>& fr) {
    return fr.size() == 2 && fr[0].function == "main.(*counter).Load";
  });
  ASSERT_TRUE(pc) << "no inlined counter.Load in main.leaker";
  auto frames = tab_->frames(*pc);
  EXPECT_TRUE(frames[0].file.ends_with("heapleak/main.go")) << frames[0].file;
  EXPECT_EQ(frames[0].line, load_line);
  EXPECT_EQ(frames[1].function, "main.leaker");
  EXPECT_EQ(tab_->func_for_pc(*pc)->name, "main.leaker");
  EXPECT_TRUE(frames[1].file.ends_with("heapleak/main.go"));
  EXPECT_EQ(frames[1].line, line);
}

TEST_P(PclntabTarget, InlinedFramesEndWithPhysicalFunction) {
  size_t inlined_pcs = 0, inner_with_body = 0;
  size_t i = 0;
  tab_->for_each_func([&](const FuncInfo& f) {
    if (i++ % 7 != 0) return;  // a sample keeps this fast
    for (uint64_t pc = f.entry; pc < f.end; pc += tab_->min_lc()) {
      auto fr = tab_->frames(pc);
      ASSERT_FALSE(fr.empty()) << std::hex << pc;
      EXPECT_EQ(fr.back().function, f.name) << std::hex << pc;
      if (fr.size() < 2) continue;
      inlined_pcs++;
      auto physical = tab_->func_for_pc(pc);
      ASSERT_TRUE(physical);
      EXPECT_EQ(fr.back().function, physical->name);
      for (size_t k = 0; k + 1 < fr.size(); k++) {
        // A real Go function name ("pkg.F", "pkg.(*T).M"), not an address.
        EXPECT_FALSE(fr[k].function.starts_with("0x")) << fr[k].function;
        EXPECT_NE(fr[k].function.find('.'), std::string::npos) << fr[k].function;
        EXPECT_GT(fr[k].line, 0) << fr[k].function;
        EXPECT_FALSE(fr[k].file.empty()) << fr[k].function;
        if (tab_->func_by_name(fr[k].function)) inner_with_body++;
      }
    }
  });
  EXPECT_GT(inlined_pcs, 100u);
  // Many inlined functions also have an out-of-line copy under the same name.
  EXPECT_GT(inner_with_body, 0u);
}

TEST_P(PclntabTarget, RuntimeProfilingFunctions) {
  for (const char* name : {"runtime.mallocgc", "runtime.mProf_Malloc", "runtime.setprofilebucket",
                           "runtime.mProf_Free", "runtime.newproc1", "runtime.goexit1"}) {
    auto f = tab_->func_by_name(name);
    ASSERT_TRUE(f) << name;
    if (auto v = symtab_value(name)) {
      EXPECT_EQ(f->entry, *v) << name;
    }
    auto frames = tab_->frames(f->entry);
    ASSERT_FALSE(frames.empty());
    EXPECT_EQ(frames.back().function, name);
    EXPECT_GT(frames.back().line, 0);
    auto off = elf_->vaddr_to_offset(f->entry);
    EXPECT_TRUE(off) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, PclntabTarget, ::testing::ValuesIn(all_targets()),
                         testing::target_test_name);

class PclntabVersion : public ::testing::TestWithParam<std::string> {};

// -s -w removes symbols, not code: both builds have the same function table.
TEST_P(PclntabVersion, StrippedMatchesDefault) {
  for (auto [full, stripped] : {std::pair{"default", "strip"}, {"arm64", "arm64-strip"}}) {
    auto a = testing::open_target({GetParam(), full});
    auto b = testing::open_target({GetParam(), stripped});
    ASSERT_TRUE(a && b);
    auto ta = Pclntab::load(*a), tb = Pclntab::load(*b);
    ASSERT_TRUE(ta && tb);
    ASSERT_EQ(ta->num_funcs(), tb->num_funcs());
    EXPECT_EQ(ta->text_start(), tb->text_start());
    std::vector<FuncInfo> fa, fb;
    ta->for_each_func([&](const FuncInfo& f) { fa.push_back(f); });
    tb->for_each_func([&](const FuncInfo& f) { fb.push_back(f); });
    ASSERT_EQ(fa.size(), fb.size());
    for (size_t i = 0; i < fa.size(); i++) {
      EXPECT_EQ(fa[i].name, fb[i].name);
      EXPECT_EQ(fa[i].entry, fb[i].entry) << fa[i].name;
    }
  }
}

// The pprof variant is the largest binary (~9 MB): it opens, reads its build
// info and loads its pclntab, repeatedly from the same file. (How long that
// takes is measured by bench/agent_footprint, not asserted: machines are noisy.)
TEST_P(PclntabVersion, LargeBinaryLoads) {
  Target target{GetParam(), "pprof"};
  ASSERT_TRUE(testing::open_target(target));
  for (int run = 0; run < 3; run++) {
    auto elf = ElfFile::open(target.path());
    ASSERT_TRUE(elf);
    auto bi = read_buildinfo(*elf);
    ASSERT_TRUE(bi);
    auto t = Pclntab::load(*elf);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_GT(t->num_funcs(), 4500u);  // 4,933 with go1.18.10
    EXPECT_TRUE(t->func_by_name("net/http.(*Server).Serve"));
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, PclntabVersion, ::testing::ValuesIn(testing::kVersions),
                         [](const auto& info) {
                           std::string s = "go" + info.param;
                           s[3] = '_';
                           return s;
                         });

}  // namespace
}  // namespace leakhound::binary
