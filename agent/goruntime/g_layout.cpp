#include "goruntime/g_layout.h"

#include <algorithm>
#include <cstring>

#include "binary/byte_reader.h"
#include "goruntime/profile_layout.h"

namespace leakhound::goruntime {

const std::vector<GLayout>& all_g_layouts() {
  // Oldest first; regenerate with scripts/gen-offsets.sh.
  static const std::vector<GLayout> layouts = {
#include "goruntime/g_layout_table.inc"
  };
  return layouts;
}

Result<GLayout> g_layout(const binary::GoVersion& v) {
  if (v.major != 1 || v.minor < kMinGoMinor) {
    return make_error("{} is too old: leakhound supports Go 1.{} and newer", v.raw, kMinGoMinor);
  }
  const auto& all = all_g_layouts();
  if (all.empty()) return make_error("no runtime.g layouts: g_layout_table.inc is empty");
  for (const auto& l : all) {
    if (l.go_minor == v.minor) return l;
  }
  if (v.minor > all.back().go_minor) return all.back();  // best effort: the caller warns
  return make_error("{}: no runtime.g layout for Go 1.{} (regenerate g_layout_table.inc)", v.raw,
                    v.minor);
}

Result<GLayout> g_layout_from_dwarf(const binary::DwarfTypes& dwarf, const binary::ElfFile& elf,
                                    int go_minor) {
  auto g = dwarf.struct_layout("runtime.g");
  if (!g) return g.error();
  auto gobuf = dwarf.struct_layout("runtime.gobuf");
  if (!gobuf) return gobuf.error();
  auto stack = dwarf.struct_layout("runtime.stack");
  if (!stack) return stack.error();
  auto m = dwarf.struct_layout("runtime.m");
  if (!m) return m.error();
  auto field = [](const binary::StructLayout& s, const char* name, uint64_t size,
                  const char* in) -> Result<uint32_t> {
    auto it = s.members.find(name);
    if (it == s.members.end()) return make_error("DWARF: {} has no field {}", in, name);
    if (size && it->second.size && it->second.size != size)
      return make_error("DWARF: {}.{} is {} bytes, expected {}", in, name, it->second.size, size);
    if (!binary::detail::in_bounds(it->second.offset, size, s.size))
      return make_error("DWARF: {}.{} lies outside the struct", in, name);
    return static_cast<uint32_t>(it->second.offset);
  };
  GLayout l;
  l.go_minor = go_minor;
  l.g_size = static_cast<uint32_t>(g->size);
  struct Want {
    uint32_t* out;
    const binary::StructLayout* s;
    const char* name;
    uint64_t size;
    const char* in;
  };
  uint32_t off_stack = 0, off_sched = 0, lo = 0, hi = 0, sp = 0, pc = 0, bp = 0;
  const Want wants[] = {
      {&off_stack, &*g, "stack", 16, "runtime.g"},
      {&off_sched, &*g, "sched", 0, "runtime.g"},
      {&lo, &*stack, "lo", 8, "runtime.stack"},
      {&hi, &*stack, "hi", 8, "runtime.stack"},
      {&sp, &*gobuf, "sp", 8, "runtime.gobuf"},
      {&pc, &*gobuf, "pc", 8, "runtime.gobuf"},
      {&bp, &*gobuf, "bp", 8, "runtime.gobuf"},
      {&l.syscallsp, &*g, "syscallsp", 8, "runtime.g"},
      {&l.syscallpc, &*g, "syscallpc", 8, "runtime.g"},
      {&l.atomicstatus, &*g, "atomicstatus", 4, "runtime.g"},
      {&l.goid, &*g, "goid", 8, "runtime.g"},
      {&l.waitsince, &*g, "waitsince", 8, "runtime.g"},
      {&l.waitreason, &*g, "waitreason", 1, "runtime.g"},
      {&l.gopc, &*g, "gopc", 8, "runtime.g"},
      {&l.ancestors, &*g, "ancestors", 8, "runtime.g"},
      {&l.startpc, &*g, "startpc", 8, "runtime.g"},
      {&l.g_m, &*g, "m", 8, "runtime.g"},
      {&l.m_g0, &*m, "g0", 8, "runtime.m"},
      {&l.m_curg, &*m, "curg", 8, "runtime.m"},
  };
  for (const Want& w : wants) {
    auto off = field(*w.s, w.name, w.size, w.in);
    if (!off) return off.error();
    *w.out = *off;
  }
  l.stack_lo = off_stack + lo;
  l.stack_hi = off_stack + hi;
  l.sched_sp = off_sched + sp;
  l.sched_pc = off_sched + pc;
  l.sched_bp = off_sched + bp;
  // Fields that only some releases have.
  if (auto o = field(*g, "syscallbp", 8, "runtime.g")) l.syscallbp = static_cast<int32_t>(*o);
  if (auto o = field(*g, "parentGoid", 8, "runtime.g")) l.parent_goid = static_cast<int32_t>(*o);

  // runtime.workType.goroutineLeak {pending atomic.Bool; enabled, done bool;
  // count int}, 1.26+; its type is an anonymous struct, named by its literal.
  if (auto work = dwarf.struct_layout("runtime.workType")) {
    if (auto it = work->members.find("goroutineLeak"); it != work->members.end()) {
      auto leak = dwarf.struct_layout(it->second.type_name);
      if (!leak)
        return make_error("DWARF: runtime.workType.goroutineLeak: {}", leak.error().message);
      auto pending = field(*leak, "pending", 1, "goroutineLeak");
      auto count = field(*leak, "count", 8, "goroutineLeak");
      if (!pending) return pending.error();
      if (!count) return count.error();
      if (!binary::detail::in_bounds(it->second.offset, leak->size, work->size))
        return make_error("DWARF: runtime.workType.goroutineLeak lies outside the struct");
      l.leak_pending = static_cast<int32_t>(it->second.offset + *pending);
      l.leak_count = static_cast<int32_t>(it->second.offset + *count);
    }
  }

  // runtime.waitReasonStrings: [N]string in read-only data.
  auto var = dwarf.variable("runtime.waitReasonStrings");
  if (!var) return var.error();
  if (var->size == 0 || var->size % 16 != 0 || var->size > 16 * 256)
    return make_error("DWARF: runtime.waitReasonStrings has an unexpected size {}", var->size);
  auto headers = elf.read_vaddr(var->address, var->size);
  if (!headers) return make_error("runtime.waitReasonStrings: {}", headers.error().message);
  for (uint64_t i = 0; i < var->size / 16; i++) {
    uint64_t ptr = 0, len = 0;
    std::memcpy(&ptr, headers->data() + 16 * i, 8);
    std::memcpy(&len, headers->data() + 16 * i + 8, 8);
    if (len == 0) {
      l.wait_reasons.emplace_back();
      continue;
    }
    if (len > 256) return make_error("runtime.waitReasonStrings[{}] is {} bytes long", i, len);
    auto bytes = elf.read_vaddr(ptr, len);
    if (!bytes) return make_error("runtime.waitReasonStrings[{}]: {}", i, bytes.error().message);
    l.wait_reasons.emplace_back(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  }
  return l;
}

Result<GLayout> resolve_g_layout(const binary::ElfFile& elf, const binary::GoVersion& v,
                                 std::string* source) {
  auto table = g_layout(v);
  if (!table) return table.error();  // too old: no DWARF makes it supported
  if (auto dwarf = binary::DwarfTypes::open(elf.path())) {
    if (auto l = g_layout_from_dwarf(*dwarf, elf, v.minor)) {
      if (source) *source = "DWARF";
      return l;
    }
  }
  const bool newest = v.minor > all_g_layouts().back().go_minor;
  if (source) *source = newest ? "table (newest, best effort)" : "table";
  return table;
}

uint32_t GLayout::read_size() const {
  uint32_t end = 0;
  auto cover = [&end](int64_t off, uint32_t size) {
    if (off >= 0) end = std::max(end, static_cast<uint32_t>(off) + size);
  };
  cover(stack_lo, 8);
  cover(stack_hi, 8);
  cover(sched_sp, 8);
  cover(sched_pc, 8);
  cover(sched_bp, 8);
  cover(syscallsp, 8);
  cover(syscallpc, 8);
  cover(syscallbp, 8);
  cover(atomicstatus, 4);
  cover(goid, 8);
  cover(waitsince, 8);
  cover(waitreason, 1);
  cover(parent_goid, 8);
  cover(gopc, 8);
  cover(ancestors, 8);
  cover(startpc, 8);
  cover(g_m, 8);
  return (end + 7) / 8 * 8;
}

}  // namespace leakhound::goruntime
