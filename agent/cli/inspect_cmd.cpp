#include <initializer_list>
#include <iostream>

#include "cli/commands.h"
#include "collect/go_target.h"
#include "goruntime/g_layout.h"
#include "goruntime/goroutines.h"
#include "goruntime/sampler.h"
#include "support/support.h"
#include "target/memory.h"

namespace leakhound::cli {
namespace {

int run(pid_t pid) {
  auto t = collect::open_go_target(pid);
  if (!t) {
    std::cerr << "leakhound: " << t.error().message << "\n";
    return 1;
  }
  const collect::GoTarget& g = **t;
  auto& out = std::cout;
  out << fmt::format("pid:           {}\n", pid);
  out << fmt::format("executable:    {}\n", g.proc.exe_path());
  out << fmt::format("go version:    {}{}\n", g.build.go_version.raw,
                     goruntime::is_known_version(g.build.go_version) ? "" : " (newer than known)");
  out << fmt::format("leakhound:     {} ({}) supports {}\n", support::kVersion, support::kBuild,
                     support::go_range());
  // What was run on programs like this one (leakhound --version has it all).
  const char* arch = binary::go_arch(g.elf.machine());
  const auto runs = support::runs_for(arch, g.build.go_version.minor);
  if (runs.empty()) {
    out << fmt::format("tested:        nothing recorded for {} Go 1.{} (leakhound --version)\n",
                       arch, g.build.go_version.minor);
  }
  for (size_t i = 0; i < runs.size(); i++) {
    out << fmt::format("{:<15}{}: {}\n", i ? "" : "tested:", runs[i]->where, runs[i]->what);
  }
  out << fmt::format("main package:  {}\n", g.build.path);
  out << fmt::format("module:        {} {}\n", g.build.module_path, g.build.module_version);
  out << fmt::format("stripped:      {}\n",
                     g.elf.has_symtab() ? "no (.symtab present)" : "yes (no .symtab)");
  out << fmt::format("pie:           {}{}\n", g.elf.is_pie() ? "yes" : "no",
                     g.elf.is_pie() ? fmt::format(" (load bias {:#x})", g.bias) : "");
  out << fmt::format("functions:     {} (from .gopclntab)\n", g.pclntab.num_funcs());
  out << fmt::format("globals:       {}\n",
                     g.syms.globals_from_symtab ? "from .symtab" : "recovered by disassembly");

  auto mem = target::ProcessMemory::open(pid, /*writable=*/false);
  if (!mem) {
    out << "heap sampler:  unknown (" << mem.error().message << ")\n";
  } else if (auto s = goruntime::SamplerControl::open(
                 g.proc, *mem, g.runtime_addr(g.syms.mem_profile_rate),
                 g.runtime_addr(g.syms.disable_memory_profiling));
             !s) {
    out << "heap sampler:  unknown (" << s.error().message << ")\n";
  } else if (s->left_over()) {
    // Inspect writes nothing: the rate stays for `restore` (or the next attach).
    out << fmt::format(
        "heap sampler:  on (MemProfileRate={}, left by a leakhound that did not exit cleanly; the "
        "program's own value is {}: `leakhound restore {}` puts it back)\n",
        s->written(), s->original_rate(), pid);
    s->disown();
  } else if (s->original_rate() > 0) {
    out << fmt::format("heap sampler:  on (MemProfileRate={})\n", s->original_rate());
  } else {
    out << fmt::format("heap sampler:  off ({}); `attach` switches it on for its window\n",
                       s->linker_disabled() ? "disabled by the linker" : "MemProfileRate=0");
  }

  if (mem && g.syms.allgs) {
    if (!g.g_layout) {
      out << "goroutines:    unknown (" << g.g_layout_error << ")\n";
    } else {
      const std::string& source = g.g_layout->source;
      const goruntime::GLayout* layout = &g.g_layout->layout;
      goruntime::GoroutineReader reader(*mem, *layout, g.runtime_addr(g.syms.allgs),
                                        g.runtime_addr(g.syms.allglen));
      if (auto snap = reader.read(); !snap) {
        out << "goroutines:    unknown (" << snap.error().message << ")\n";
      } else {
        size_t user = 0;
        for (const auto& gr : snap->live) {
          user += !goruntime::is_system_entry(g.frame_at(gr.startpc, false).function);
        }
        out << fmt::format("goroutines:    {} live ({} user), {} in allgs (runtime.g layout: {})\n",
                           snap->live.size(), user, snap->allglen,
                           source == "DWARF" ? "the binary's DWARF"
                                             : fmt::format("go1.{} {}", layout->go_minor, source));
      }
    }
  }

  using Named = std::pair<const char*, uint64_t>;  // name, link-time address
  auto table = [&](const char* title, std::initializer_list<Named> rows) {
    out << title << ":\n";
    for (auto [name, addr] : rows) {
      out << fmt::format("  {:<32} {}\n", name,
                         addr ? fmt::format("{:#x}", g.runtime_addr(addr)) : "not found");
    }
  };
  table("probe symbols", {{"runtime.mProf_Flush", g.syms.fn_mprof_flush},
                          {"runtime.setprofilebucket", g.syms.fn_setprofilebucket},
                          {"runtime.mProf_Free", g.syms.fn_mprof_free},
                          {"runtime.mProf_Malloc", g.syms.fn_mprof_malloc},
                          {"runtime.profilealloc", g.syms.fn_profilealloc},
                          {"runtime.mallocgc", g.syms.fn_mallocgc}});
  table("runtime variables", {{"runtime.MemProfileRate", g.syms.mem_profile_rate},
                              {"runtime.mbuckets", g.syms.mbuckets},
                              {"runtime.mProfCycle", g.syms.mprof_cycle},
                              {"runtime.disableMemoryProfiling", g.syms.disable_memory_profiling},
                              {"runtime.allgs", g.syms.allgs},
                              {"runtime.allglen", g.syms.allglen}});
  return 0;
}

}  // namespace

Runner add_inspect(CLI::App& app, const GlobalOptions&) {
  auto pid = std::make_shared<pid_t>(0);
  app.add_option("pid", *pid, "process to inspect")->required()->check(CLI::PositiveNumber);
  return [pid] { return run(*pid); };
}

}  // namespace leakhound::cli
