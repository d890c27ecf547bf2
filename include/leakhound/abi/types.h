/* Fixed-width types for the structs shared by bpf/ and agent/probes/. */
#ifndef LEAKHOUND_ABI_TYPES_H
#define LEAKHOUND_ABI_TYPES_H

#ifdef __cplusplus
#include <cstdint>
typedef uint32_t lh_u32;
typedef uint64_t lh_u64;
#else
typedef __u32 lh_u32;
typedef __u64 lh_u64;
#endif

#endif
