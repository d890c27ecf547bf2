// mallocloop: a tight malloc(size)+free loop for benchmarks: the cost of
// malloc/free with and without leakhound's probes attached.
//
// Flags (Go style, "-name value" or "-name=value"):
//   -n N          iterations per round (default 10000000)
//   -size N       bytes per malloc (default 64)
//   -rounds R     rounds (default 1); one result line per round
//   -wait         print the ready line, then wait for SIGUSR1 (or SIGCONT)
//                 before starting, so probes can be attached first
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

int main(int argc, char** argv) {
  long n = arg_num(argc, argv, "n", 10000000);
  long size = arg_num(argc, argv, "size", 64);
  long rounds = arg_num(argc, argv, "rounds", 1);
  if (n < 1 || size < 0 || rounds < 1) {
    fprintf(stderr, "mallocloop: -n and -rounds must be >= 1, -size >= 0\n");
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
    loop(n, (size_t)size);
    double t = now_s() - t0;
    printf("round=%ld iterations=%ld size=%ld ns_per_iter=%.2f total_s=%.3f\n", r, n, size,
           t * 1e9 / (double)n, t);
  }
  return 0;
}
