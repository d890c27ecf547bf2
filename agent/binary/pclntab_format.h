// Layout constants of the pclntab (runtime/symtab.go, cmd/link/internal/ld/pcln.go).
#pragma once

#include <cstdint>

namespace leakhound::binary::detail {

constexpr uint32_t kMagic118 = 0xfffffff0;  // Go 1.18-1.19
constexpr uint32_t kMagic120 = 0xfffffff1;  // Go 1.20+
// magic, pad, pad, minLC, ptrSize, then nfunc, nfiles, textStart and five table offsets.
constexpr uint64_t kHeaderSize = 8 + 8 * 8;

// runtime._func: the fields we read sit at the same offsets in both formats;
// 1.20 inserted startLine before funcID, moving nfuncdata.
constexpr uint64_t kFuncNameOff = 4;
constexpr uint64_t kFuncPcsp = 16;
constexpr uint64_t kFuncPcfile = 20;
constexpr uint64_t kFuncPcln = 24;
constexpr uint64_t kFuncNpcdata = 28;
constexpr uint64_t kFuncCuOffset = 32;
struct FuncLayout {
  uint64_t size;       // the fixed part; pcdata[] follows
  uint64_t flag;       // offset of the abi.FuncFlag byte
  uint64_t nfuncdata;  // offset of the nfuncdata byte
};
constexpr FuncLayout kFunc118 = {40, 37, 39};
constexpr FuncLayout kFunc120 = {44, 41, 43};
// An assembly function called through an ABI wrapper has two entries with the
// same name: the ABI0 body (this flag set) and the ABIInternal wrapper.
constexpr uint8_t kFuncFlagAsm = 1 << 2;
// abi.FuncFlagTopFrame (runtime.goexit, mstart...: the stack ends there) and
// abi.FuncFlagSPWrite (writes SP other than by its frame: pcsp is not to be
// trusted past it).
constexpr uint8_t kFuncFlagTopFrame = 1 << 0;
constexpr uint8_t kFuncFlagSPWrite = 1 << 1;

constexpr uint32_t kPcdataInlTreeIndex = 2;
constexpr uint32_t kFuncdataInlTree = 3;

// runtime.inlinedCall. 1.20+: {funcID u8, pad[3], nameOff i32, parentPc i32, startLine i32}.
// 1.18-1.19: {parent i16, funcID u8, pad, file i32, line i32, func_ i32, parentPc i32}.
struct InlineLayout {
  uint64_t size, name_off, parent_pc;
};
constexpr InlineLayout kInline118 = {20, 12, 16};
constexpr InlineLayout kInline120 = {16, 4, 8};

// Bounds a walk up the inline tree, which malformed input could make cyclic.
constexpr int kMaxInlineDepth = 256;

}  // namespace leakhound::binary::detail
