/* Map helpers shared by the BPF programs. */
#ifndef LEAKHOUND_MAPS_BPF_H
#define LEAKHOUND_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* The entry for key, inserted zeroed if missing; NULL when the map is full
 * (the caller counts the drop). EEXIST from a racing CPU is fine: the second
 * lookup finds its entry. */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *zero) {
	void *v = bpf_map_lookup_elem(map, key);
	if (v)
		return v;
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/* Adds one to slot `counter` of a family's per-CPU array of u64 counters
 * (`<family>_counters`, indexed by `enum lh_<family>_counter`). */
static __always_inline void count_in(void *counters, __u32 counter) {
	__u64 *n = bpf_map_lookup_elem(counters, &counter);
	if (n)
		(*n)++;
}

/* FNV-1a over a stack's frames: its key in a stack table. */
#define STACK_HASH_INIT 0xcbf29ce484222325ULL
static __always_inline __u64 stack_hash_step(__u64 hash, __u64 pc) {
	return (hash ^ pc) * 0x100000001b3ULL;
}

/* Stores a stack once under its hash (0 means "no stack", so never a key);
 * returns the key, or 0 when the table is full (the caller counts it). */
static __always_inline __u64 intern_stack(void *map, __u64 hash, const void *stack) {
	if (!hash)
		hash = 1;
	return lookup_or_init(map, &hash, stack) ? hash : 0;
}

#endif
