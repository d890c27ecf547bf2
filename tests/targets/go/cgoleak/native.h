// C side of cgoleak: allocation paths that are balanced (must never grow)
// and the pre-allocated buffers freed during the run.
#ifndef CGOLEAK_NATIVE_H
#define CGOLEAK_NATIVE_H

// cgoleak_churn does n malloc/free pairs of varied sizes: about half are freed
// at once, the rest go into a small ring and are freed when their slot is
// reused (a short while later). Live memory stays bounded by the ring.
void cgoleak_churn(int n, unsigned seed);

// cgoleak_realloc_chain mallocs a 16-byte buffer, grows it with realloc `steps`
// times (by 200..320 bytes each), then frees it. Balanced.
void cgoleak_realloc_chain(int steps);

// cgoleak_prealloc mallocs n buffers (sizes 64..1087 bytes) and keeps them.
// Returns how many it allocated.
int cgoleak_prealloc(int n);

// cgoleak_prealloc_free frees up to k of the buffers cgoleak_prealloc kept, in
// allocation order. Returns how many are still allocated.
int cgoleak_prealloc_free(int k);

// cgoleak_mallinfo fills out[0..4] with glibc's mallinfo2(): arena (bytes
// the arenas took from the system by brk/mmap), hblkhd (mmapped chunks),
// uordblks (in use, chunk overhead included), fordblks (free in the arenas),
// keepcost (the main arena's releasable top).
void cgoleak_mallinfo(unsigned long long out[5]);

#endif
