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

/* Adds one to slot `reason` of a per-CPU array of u64 drop counters. */
static __always_inline void count_drop_in(void *drops, __u32 reason) {
	__u64 *n = bpf_map_lookup_elem(drops, &reason);
	if (n)
		(*n)++;
}

#endif
