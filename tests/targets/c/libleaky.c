// libleaky (see libleaky.h). Built as libleaky-fp.so / libleaky-nofp.so by
// scripts/build-targets.sh, with and without frame pointers. Every allocation
// goes through escape() so the compiler cannot remove a malloc/free pair.
#include "libleaky.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static inline void escape(void* p) { __asm__ volatile("" : : "r"(p) : "memory"); }

char* leaky_parse_record(const char* line, size_t name_size) {
  size_t len = strlen(line);
  char* scratch = malloc(len + 1);
  if (!scratch) return NULL;
  memcpy(scratch, line, len + 1);
  escape(scratch);
  char* name = malloc(name_size);  // C-LEAK-LINE
  if (name && name_size > 0) {
    size_t n = strcspn(scratch, "=;");
    if (n >= name_size) n = name_size - 1;
    memcpy(name, scratch, n);
    name[n] = '\0';
  }
  escape(name);
  free(scratch);
  return name;
}

void leaky_balanced(size_t size) {
  char* a = malloc(size);
  char* b = malloc(size / 2 + 1);
  char* c = malloc(size * 3 + 7);
  if (a) memset(a, 1, size);
  if (b) b[0] = 2;
  if (c) c[0] = 3;
  escape(a);
  escape(b);
  escape(c);
  free(b);
  free(a);
  free(c);
}

void* leaky_map_region(size_t size) {
  void* tmp = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (tmp != MAP_FAILED) {
    memset(tmp, 1, size);
    munmap(tmp, size);
  }
  void* keep =
      mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);  // C-MMAP-LINE
  if (keep == MAP_FAILED) return NULL;
  memset(keep, 2, size);
  return keep;
}
