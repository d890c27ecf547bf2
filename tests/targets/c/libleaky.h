// libleaky: a shared library with one leaking and one balanced allocation path.
#ifndef LIBLEAKY_H
#define LIBLEAKY_H
#include <stddef.h>

// leaky_parse_record parses a "key=value;..." record: it copies the line into
// a scratch buffer (freed) and keeps the record's name in a fresh malloc of
// name_size bytes that nobody frees: leaks exactly name_size bytes per call,
// from the line with the C-LEAK marker comment. Returns the name (the caller drops it).
char* leaky_parse_record(const char* line, size_t name_size);

// leaky_balanced does a few malloc/free pairs (sizes around size); all freed.
void leaky_balanced(size_t size);

// leaky_map_region maps `size` bytes of anonymous private memory for a
// region that is never unmapped (the mmap leak), and maps and unmaps a second
// one (balanced). Returns the leaked mapping.
void* leaky_map_region(size_t size);

#endif
