// Bounds-checked reader of an ELF file (64-bit little-endian; x86-64 and
// aarch64). The input is hostile: every offset and size is checked; malformed
// input yields an Error, never a crash or an out-of-bounds read.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "binary/mapped_file.h"
#include "util/result.h"

namespace leakhound::binary {

enum class Machine { X86_64, AArch64, Other };

// Go's name for the architecture (GOARCH): "amd64", "arm64"; "" for others.
constexpr const char* go_arch(Machine m) {
  return m == Machine::X86_64 ? "amd64" : m == Machine::AArch64 ? "arm64" : "";
}

struct Section {
  std::string name;
  uint32_t type = 0;
  uint64_t flags = 0;
  uint64_t addr = 0;    // link-time virtual address (0 when not allocated)
  uint64_t offset = 0;  // file offset
  uint64_t size = 0;
  uint32_t link = 0;  // sh_link: for symbol tables, the index of their string table
  uint64_t entsize = 0;
};

struct Segment {  // PT_LOAD and PT_TLS program headers
  uint32_t type = 0;
  uint32_t flags = 0;  // PF_R/PF_W/PF_X
  uint64_t offset = 0;
  uint64_t vaddr = 0;
  uint64_t filesz = 0;
  uint64_t memsz = 0;
  uint64_t align = 0;
};

struct Symbol {
  std::string name;
  uint64_t value = 0;
  uint64_t size = 0;
  uint8_t type = 0;  // STT_*
};

class ElfFile {
 public:
  // Maps the file read-only (MappedFile: a file that shrinks while mapped
  // reads as zeros, never crashes); "PID 1 is not ..."-style callers add context.
  static Result<ElfFile> open(const std::string& path);
  // Parses bytes already in memory (tests, fuzzing).
  static Result<ElfFile> from_bytes(std::vector<uint8_t> bytes, std::string name = "<memory>");

  const std::string& path() const { return path_; }
  Machine machine() const { return machine_; }
  uint16_t type() const { return type_; }  // ET_EXEC, ET_DYN
  bool is_pie() const;                     // ET_DYN
  uint64_t entry() const { return entry_; }

  const std::vector<Section>& sections() const { return sections_; }
  std::optional<Section> section(std::string_view name) const;
  // Bytes of a section (empty for SHT_NOBITS); bounds were checked at parse.
  std::span<const uint8_t> section_data(const Section& s) const;

  const std::vector<Segment>& segments() const { return segments_; }
  // Bytes at a link-time virtual address, from a file-backed PT_LOAD segment.
  Result<std::span<const uint8_t>> read_vaddr(uint64_t vaddr, size_t len) const;
  // File offset of a link-time virtual address (what uprobes attach to).
  Result<uint64_t> vaddr_to_offset(uint64_t vaddr) const;

  bool has_symtab() const;  // a non-empty .symtab (not stripped)
  // Looks a symbol up in .symtab, then .dynsym (defined symbols preferred).
  std::optional<Symbol> symbol(std::string_view name) const;
  // Every named symbol of .symtab, then of .dynsym (decoded on each call: for
  // tests and tools; lookups go through symbol()).
  std::vector<Symbol> symbols() const;

  std::span<const uint8_t> bytes() const { return data_; }
  // Keeps the bytes alive for readers that keep views into them after the
  // ElfFile is gone (Pclntab); they are never modified.
  std::shared_ptr<const void> keep_alive() const { return owner_; }
  // The mapping behind open() (null for from_bytes): its identity, damage
  // and resident pages.
  const MappedFile* mapping() const { return mapped_.get(); }
  // True when the file shrank while mapped: what was read from it is suspect.
  bool damaged() const { return mapped_ && mapped_->damaged(); }

 private:
  std::string path_;
  std::shared_ptr<const void> owner_;  // the MappedFile or the vector behind data_
  std::shared_ptr<const MappedFile> mapped_;
  std::span<const uint8_t> data_;
  Machine machine_ = Machine::Other;
  uint16_t type_ = 0;
  uint64_t entry_ = 0;
  std::vector<Section> sections_;
  std::vector<Segment> segments_;
  // Symbol tables are indexed lazily on first lookup (thread-safe, shared by
  // copies of this ElfFile).
  struct SymbolIndex;
  std::shared_ptr<SymbolIndex> symbols_;
  const SymbolIndex& symbol_index() const;
  // Calls f(section index, entry offset, name, entry) for every named symbol
  // of every section of that type.
  template <typename F>
  void for_each_symbol(uint32_t type, F&& f) const;
  Result<void> parse();
  Result<void> parse_segments();
  Result<void> parse_sections();
};

}  // namespace leakhound::binary
