#include "binary/dwarf_types.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "util/fd.h"

namespace leakhound::binary {

struct DwarfTypes::Impl {
  UniqueFd fd;
  Dwarf* dw = nullptr;
  ~Impl() {
    if (dw) dwarf_end(dw);
  }
  // Calls f on every top-level DIE of every compilation unit until it returns true.
  bool for_each_top(const std::function<bool(Dwarf_Die&)>& f) const {
    Dwarf_Off off = 0, next = 0;
    size_t hdr = 0;
    while (dwarf_nextcu(dw, off, &next, &hdr, nullptr, nullptr, nullptr) == 0) {
      Dwarf_Die cu, child;
      if (dwarf_offdie(dw, off + hdr, &cu) && dwarf_child(&cu, &child) == 0) {
        do {
          if (f(child)) return true;
        } while (dwarf_siblingof(&child, &child) == 0);
      }
      off = next;
    }
    return false;
  }
};

DwarfTypes::DwarfTypes(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DwarfTypes::DwarfTypes(DwarfTypes&&) noexcept = default;
DwarfTypes& DwarfTypes::operator=(DwarfTypes&&) noexcept = default;
DwarfTypes::~DwarfTypes() = default;

Result<DwarfTypes> DwarfTypes::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error(errno, "cannot open {}", path);
  impl->fd = UniqueFd(fd);
  impl->dw = dwarf_begin(fd, DWARF_C_READ);
  if (!impl->dw) return make_error("{}: no DWARF ({})", path, dwarf_errmsg(-1));
  return DwarfTypes(std::move(impl));
}

namespace {

std::optional<Dwarf_Die> type_of(Dwarf_Die& die) {
  Dwarf_Attribute a;
  Dwarf_Die t;
  if (!dwarf_attr_integrate(&die, DW_AT_type, &a) || !dwarf_formref_die(&a, &t)) return {};
  return t;
}

}  // namespace

Result<StructLayout> DwarfTypes::struct_layout(const std::string& name) const {
  StructLayout out;
  bool found = impl_->for_each_top([&](Dwarf_Die& die) {
    if (dwarf_tag(&die) != DW_TAG_structure_type) return false;
    const char* n = dwarf_diename(&die);
    if (!n || name != n) return false;
    Dwarf_Die m;
    if (dwarf_child(&die, &m) != 0) return false;  // a declaration
    int size = dwarf_bytesize(&die);
    out.size = size > 0 ? static_cast<uint64_t>(size) : 0;
    do {
      if (dwarf_tag(&m) != DW_TAG_member) continue;
      const char* mn = dwarf_diename(&m);
      Dwarf_Attribute a;
      Dwarf_Word off = 0;
      if (!mn || !dwarf_attr(&m, DW_AT_data_member_location, &a) || dwarf_formudata(&a, &off))
        continue;
      StructMember sm;
      sm.offset = off;
      if (auto t = type_of(m)) {
        Dwarf_Word ts = 0;
        if (dwarf_aggregate_size(&*t, &ts) == 0) sm.size = ts;
        if (const char* tn = dwarf_diename(&*t)) sm.type_name = tn;
      }
      out.members.emplace(mn, sm);
    } while (dwarf_siblingof(&m, &m) == 0);
    return true;
  });
  if (!found) return make_error("DWARF has no definition of struct {}", name);
  return out;
}

Result<Variable> DwarfTypes::variable(const std::string& name) const {
  Variable out;
  bool found = impl_->for_each_top([&](Dwarf_Die& die) {
    if (dwarf_tag(&die) != DW_TAG_variable) return false;
    const char* n = dwarf_diename(&die);
    if (!n || name != n) return false;
    Dwarf_Attribute a;
    if (!dwarf_attr(&die, DW_AT_location, &a)) return false;
    Dwarf_Op* ops = nullptr;
    size_t nops = 0;
    Dwarf_Block b;
    if (dwarf_getlocation(&a, &ops, &nops) == 0) {
      if (nops != 1 || ops[0].atom != DW_OP_addr) return false;
      out.address = ops[0].number;
    } else if (dwarf_formblock(&a, &b) == 0 && b.length == 9 && b.data[0] == DW_OP_addr) {
      // Go writes DWARF 4 locations as DW_FORM_block1, which libdw only
      // accepts as an expression before DWARF 4: decode {DW_OP_addr, u64}.
      std::memcpy(&out.address, b.data + 1, 8);
    } else {
      return false;
    }
    if (auto t = type_of(die)) {
      Dwarf_Word ts = 0;
      if (dwarf_aggregate_size(&*t, &ts) == 0) out.size = ts;
    }
    return true;
  });
  if (!found) return make_error("DWARF has no static variable {}", name);
  return out;
}

}  // namespace leakhound::binary
