// Bounds-checked reads from untrusted byte ranges (ELF files, pclntab,
// buildinfo). Every helper returns nullopt instead of reading out of range, so
// callers can treat any malformed input as "not found" or turn it into an Error.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

namespace leakhound::binary::detail {

// The formats we read are little-endian and so are the hosts we support
// (x86-64, aarch64); a byte swap would only hide a port that needs thought.
static_assert(std::endian::native == std::endian::little, "little-endian host required");

using Bytes = std::span<const uint8_t>;

// True when [off, off + len) lies inside a range of `size` bytes, without overflow.
constexpr bool in_bounds(uint64_t off, uint64_t len, uint64_t size) {
  return off <= size && len <= size - off;
}

// a + b, or nullopt on unsigned overflow.
constexpr std::optional<uint64_t> checked_add(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// a * b, or nullopt on unsigned overflow.
constexpr std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

template <typename T>
std::optional<T> read_le(Bytes b, uint64_t off) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (!in_bounds(off, sizeof(T), b.size())) return std::nullopt;
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

// Sub-range [off, off + len), or nullopt when it does not fit.
inline std::optional<Bytes> sub(Bytes b, uint64_t off, uint64_t len) {
  if (!in_bounds(off, len, b.size())) return std::nullopt;
  return b.subspan(off, len);
}

// NUL-terminated string starting at off; nullopt when off is out of range or
// no NUL follows inside b.
inline std::optional<std::string_view> cstring_at(Bytes b, uint64_t off) {
  if (off >= b.size()) return std::nullopt;
  const auto* start = b.data() + off;
  const void* nul = std::memchr(start, 0, b.size() - off);
  if (nul == nullptr) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(start),
                          static_cast<const uint8_t*>(nul) - start);
}

// Unsigned LEB128 as Go's encoding/binary.Uvarint writes it. Advances pos past
// the value; nullopt when the input ends early or the value exceeds 64 bits.
inline std::optional<uint64_t> read_uvarint(Bytes b, uint64_t& pos) {
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (pos >= b.size()) return std::nullopt;
    uint8_t byte = b[pos++];
    if (shift == 63 && byte > 1) return std::nullopt;
    v |= uint64_t(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return v;
  }
  return std::nullopt;
}

}  // namespace leakhound::binary::detail
