#include "collect/go_target.h"

#include <elf.h>

#include "util/log.h"

namespace leakhound::collect {

std::vector<Frame> GoTarget::symbolize_stack(const std::vector<uint64_t>& pcs) const {
  std::vector<Frame> out;
  out.reserve(pcs.size());
  for (uint64_t pc : pcs) {
    uint64_t link = pc - bias;
    // Return PCs point after the call: look up the call instruction itself.
    auto frames = pclntab.frames(link - 1);
    Frame f;
    if (!frames.empty()) {
      f = frames.front();
    } else {
      f.function = fmt::format("{:#x}", pc);
    }
    f.pc = pc;
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<Frame> GoTarget::symbolize_unwound(const std::vector<uint64_t>& pcs) const {
  std::vector<Frame> out;
  for (uint64_t pc : pcs) {
    uint64_t link = pc - bias;
    auto fn = pclntab.func_for_pc(link);
    bool at_entry = fn && fn->entry == link;
    auto frames = pclntab.frames(at_entry ? link : link - 1);
    if (frames.empty()) {
      Frame f;
      f.function = fmt::format("{:#x}", pc);
      f.pc = pc;
      out.push_back(std::move(f));
      continue;
    }
    for (Frame& f : frames) {
      f.pc = pc;
      out.push_back(std::move(f));
    }
  }
  return out;
}

goruntime::StackArch GoTarget::stack_arch() const {
  goruntime::StackArch a;
  a.link_register = elf.machine() == binary::Machine::AArch64;
  a.frame_size = [this](uint64_t pc) -> std::optional<binary::FrameSize> {
    if (pc < bias) return std::nullopt;
    return pclntab.frame_size(pc - bias);
  };
  return a;
}

Frame GoTarget::frame_at(uint64_t pc, bool return_pc) const {
  auto frames = pclntab.frames(pc - bias - (return_pc ? 1 : 0));
  Frame f;
  if (!frames.empty()) {
    // The entry of a function: its physical frame, not an inlined callee.
    f = return_pc ? frames.front() : frames.back();
  } else {
    f.function = fmt::format("{:#x}", pc);
  }
  f.pc = pc;
  return f;
}

Result<std::unique_ptr<GoTarget>> open_go_target(pid_t pid) {
  auto proc = target::Process::open(pid);
  if (!proc) return proc.error();
  auto elf = binary::ElfFile::open(proc->exe_link());
  if (!elf) return make_error("PID {} ({}): {}", pid, proc->exe_path(), elf.error().message);
  return open_go_target(std::move(*proc), std::move(*elf));
}

Result<std::unique_ptr<GoTarget>> open_go_target(target::Process proc, binary::ElfFile elf,
                                                 goruntime::GLayoutCache* g_layouts) {
  const pid_t pid = proc.pid();
  auto build = binary::read_buildinfo(elf);
  if (!build)
    return make_error("PID {} ({}) is not a Go program: {}", pid, proc.exe_path(),
                      build.error().message);
  auto layout = goruntime::profile_layout(build->go_version);
  if (!layout) return make_error("PID {} ({}): {}", pid, proc.exe_path(), layout.error().message);
  auto pcln = binary::Pclntab::load(elf);
  if (!pcln)
    return make_error("PID {} ({}): cannot read the Go function table: {}", pid, proc.exe_path(),
                      pcln.error().message);
  auto syms = goruntime::resolve_runtime_symbols(elf, *pcln, build->go_version);
  if (!syms) return make_error("PID {} ({}): {}", pid, proc.exe_path(), syms.error().message);

  auto t = std::make_unique<GoTarget>(GoTarget{
      std::move(proc), std::move(elf), std::move(*build), std::move(*pcln), *syms, *layout, 0, {}});
  if (!goruntime::is_known_version(t->build.go_version)) {
    t->warnings.push_back(fmt::format(
        "{} is newer than the newest Go release leakhound knows (1.{}): results are best effort",
        t->build.go_version.raw, goruntime::kMaxGoMinor));
  }
  if (t->elf.is_pie()) {
    const binary::Segment* first = nullptr;
    for (const auto& s : t->elf.segments()) {
      if (s.type == PT_LOAD) {
        first = &s;
        break;
      }
    }
    if (!first) return make_error("PID {}: executable has no loadable segment", pid);
    auto bias = t->proc.exe_load_bias(first->vaddr, first->offset);
    if (!bias) return bias.error();
    t->bias = *bias;
  }
  auto gl = g_layouts ? g_layouts->get(t->elf, t->build.go_version)
                      : goruntime::resolve_g_layout_once(t->elf, t->build.go_version);
  if (gl)
    t->g_layout = std::move(*gl);
  else
    t->g_layout_error = gl.error().message;
  if (t->elf.damaged()) {
    return make_error("PID {} ({}): the executable shrank while it was being read", pid,
                      t->proc.exe_path());
  }
  // Reading the function table touched most of it (19 MB of an 89 MB
  // Prometheus); what symbolization needs later is faulted in again on demand.
  if (const auto* m = t->elf.mapping()) m->release_pages();
  for (const auto& w : t->warnings) spdlog::warn("{}", w);
  return t;
}

}  // namespace leakhound::collect
