// mallocloop: a tight malloc(size)+free loop for benchmarks: the cost of
// malloc/free with and without leakhound's probes attached.
//
// Flags (Go style, "-name value" or "-name=value"):
//   -n N          iterations per round (default 10000000)
//   -size N       bytes per malloc (default 64)
//   -rounds R     rounds (default 1); one result line per round
//   -wait         print the ready line, then wait for SIGUSR1 (or SIGCONT)
//                 before starting, so probes can be attached first
//   -stacks K     call malloc through K distinct stacks (K <= 65536, a power
//                 of two): iteration i takes the path spelled by the bits of
//                 i mod K, one of two functions per bit, so the stacks differ
//                 within their innermost frames
//
// Output:
//   ready pid=P                                           (with -wait)
//   round=R iterations=N size=S ns_per_iter=X total_s=T
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline void escape(void* p) { __asm__ volatile("" : : "r"(p) : "memory"); }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long arg_num(int argc, char** argv, const char* name, long def) {
  size_t n = strlen(name);
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (a[0] == '-' && a[1] == '-') a++;
    if (a[0] != '-' || strncmp(a + 1, name, n) != 0) continue;
    const char* v = NULL;
    if (a[1 + n] == '=')
      v = a + 2 + n;
    else if (a[1 + n] == '\0' && i + 1 < argc)
      v = argv[i + 1];
    if (!v) continue;
    char* end;
    long d = strtol(v, &end, 0);
    if (*end != '\0' || end == v) {
      fprintf(stderr, "mallocloop: bad value for -%s: %s\n", name, v);
      exit(2);
    }
    return d;
  }
  return def;
}

static int has_flag(int argc, char** argv, const char* name) {
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (a[0] == '-' && a[1] == '-') a++;
    if (a[0] == '-' && strcmp(a + 1, name) == 0) return 1;
  }
  return 0;
}

__attribute__((noinline)) static void loop(long n, size_t size) {
  for (long i = 0; i < n; i++) {
    void* p = malloc(size);
    escape(p);
    free(p);
  }
}

// One level per bit of code: walk_one or walk_zero, whose return addresses
// differ, down to the malloc. Their bodies differ too, or the compiler folds
// them into one function (identical code folding) and every path is one stack.
static void walk(int bits, unsigned code, size_t size);
static volatile unsigned ones, zeros;

__attribute__((noinline)) static void walk_one(int bits, unsigned code, size_t size) {
  walk(bits, code, size);
  ones = ones + 1;
}

__attribute__((noinline)) static void walk_zero(int bits, unsigned code, size_t size) {
  walk(bits, code, size);
  zeros = zeros + 1;
}

__attribute__((noinline)) static void walk(int bits, unsigned code, size_t size) {
  if (bits == 0) {
    void* p = malloc(size);
    escape(p);
    free(p);
    return;
  }
  if (code & 1)
    walk_one(bits - 1, code >> 1, size);
  else
    walk_zero(bits - 1, code >> 1, size);
}

__attribute__((noinline)) static void loop_stacks(long n, size_t size, long stacks) {
  int bits = 0;
  while ((1L << bits) < stacks) bits++;
  for (long i = 0; i < n; i++) walk(bits, (unsigned)(i & (stacks - 1)), size);
}

int main(int argc, char** argv) {
  long n = arg_num(argc, argv, "n", 10000000);
  long size = arg_num(argc, argv, "size", 64);
  long rounds = arg_num(argc, argv, "rounds", 1);
  long stacks = arg_num(argc, argv, "stacks", 0);
  if (n < 1 || size < 0 || rounds < 1) {
    fprintf(stderr, "mallocloop: -n and -rounds must be >= 1, -size >= 0\n");
    return 2;
  }
  if (stacks < 0 || stacks > 65536 || (stacks & (stacks - 1)) != 0) {
    fprintf(stderr, "mallocloop: -stacks must be a power of two up to 65536\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (has_flag(argc, argv, "wait")) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGCONT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    printf("ready pid=%d\n", (int)getpid());
    int sig;
    sigwait(&set, &sig);
  }
  for (long r = 1; r <= rounds; r++) {
    double t0 = now_s();
    if (stacks > 0)
      loop_stacks(n, (size_t)size, stacks);
    else
      loop(n, (size_t)size);
    double t = now_s() - t0;
    printf("round=%ld iterations=%ld size=%ld ns_per_iter=%.2f total_s=%.3f\n", r, n, size,
           t * 1e9 / (double)n, t);
  }
  return 0;
}
