// C side of cgoleak (see native.h). Compiled by cgo with the default
// CGO_CFLAGS (-O2 -g). Every allocation is passed through escape() so the
// compiler cannot pair up and remove a malloc/free.
#include "native.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static inline void escape(void* p) { __asm__ volatile("" : : "r"(p) : "memory"); }

#define RING 256
static void* ring[RING];

static unsigned next_rand(unsigned* s) {
  *s = *s * 1103515245u + 12345u;
  return *s >> 8;
}

void cgoleak_churn(int n, unsigned seed) {
  static const size_t sizes[] = {16, 24, 48, 100, 256, 512, 1000, 2048, 4096, 8192};
  for (int i = 0; i < n; i++) {
    unsigned r = next_rand(&seed);
    size_t size = sizes[r % (sizeof sizes / sizeof sizes[0])] + (r >> 12) % 16;
    char* p = malloc(size);
    if (!p) continue;
    p[0] = (char)size;
    p[size - 1] = (char)r;
    escape(p);
    if (r & 0x100) {
      free(p);
    } else {
      unsigned slot = (r >> 16) % RING;
      free(ring[slot]);  // free(NULL) is fine
      ring[slot] = p;
    }
  }
}

void cgoleak_realloc_chain(int steps) {
  size_t size = 16;
  char* p = malloc(size);
  if (!p) return;
  memset(p, 1, size);
  escape(p);
  for (int i = 0; i < steps; i++) {
    size_t ns = size + 200 + (size_t)(i % 4) * 40;  // linear: 32 steps end near 8 KB
    char* q = realloc(p, ns);
    if (!q) break;
    p = q;
    memset(p + size, 2, ns - size);
    size = ns;
    escape(p);
  }
  free(p);
}

static void** pre;
static int pre_n, pre_next;

int cgoleak_prealloc(int n) {
  if (n <= 0) return 0;
  pre = calloc((size_t)n, sizeof *pre);
  if (!pre) return 0;
  for (int i = 0; i < n; i++) {
    size_t size = 64 + (size_t)(i * 37) % 1024;
    char* p = malloc(size);
    if (!p) break;
    memset(p, 3, size);
    escape(p);
    pre[pre_n++] = p;
  }
  return pre_n;
}

int cgoleak_prealloc_free(int k) {
  while (k-- > 0 && pre_next < pre_n) {
    free(pre[pre_next]);
    pre[pre_next++] = NULL;
  }
  return pre_n - pre_next;
}

void cgoleak_mallinfo(unsigned long long out[5]) {
  struct mallinfo2 m = mallinfo2();
  out[0] = m.arena;
  out[1] = m.hblkhd;
  out[2] = m.uordblks;
  out[3] = m.fordblks;
  out[4] = m.keepcost;
}
