// cleak: a C program that leaks through a shared library (libleaky) at a fixed
// rate while doing balanced malloc/free work, so leakhound's native findings
// can be checked against ground truth. Built with frame pointers (cleak-fp,
// libleaky-fp.so) and without (cleak-nofp, libleaky-nofp.so), linked with
// rpath $ORIGIN.
//
// Flags (Go style, "-name value" or "-name=value"):
//   -leak-rate N       leaky_parse_record calls per second (default 50; 0: none)
//   -leak-size N       bytes leaked per call (default 256)
//   -balanced-rate N   leaky_balanced calls per second, 3 malloc/free each (default 1000)
//   -mmap-rate N       leaky_map_region calls per second (default 0): each leaks one
//                      anonymous mapping of -mmap-size bytes (default 65536)
//   -interval S        seconds between status lines (default 1)
//   -duration S        exit after this long (default 0: run until killed)
//   -stamps 1          print the counters with the clock at every change
//
// Output, one line at a time:
//   ready pid=P variant=V leak_size=S
//   tick=N elapsed_s=X leaked_bytes=B leaked_allocs=A        (every -interval)
//   leaked_bytes=B leaked_allocs=A                           (on SIGUSR1)
//   leaked leaked_bytes=B leaked_allocs=A mapped_bytes=M from_us=T0 to_us=T1
//                                                            (-stamps 1: at every change)
// The stamped line says the calls that took the counters to B and M were made
// between T0 and T1 (wall clock, microseconds since the Unix epoch), so a test
// can tell what they were at any instant, however late it reads the line.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libleaky.h"

#ifndef VARIANT
#define VARIANT "unknown"
#endif

static volatile sig_atomic_t got_usr1, got_term;

static void on_usr1(int sig) {
  (void)sig;
  got_usr1 = 1;
}
static void on_term(int sig) {
  (void)sig;
  got_term = 1;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long unix_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double arg_num(int argc, char** argv, const char* name, double def) {
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
    double d = strtod(v, &end);
    if (*end != '\0' || end == v) {
      fprintf(stderr, "cleak: bad value for -%s: %s\n", name, v);
      exit(2);
    }
    return d;
  }
  return def;
}

int main(int argc, char** argv) {
  double leak_rate = arg_num(argc, argv, "leak-rate", 50);
  long leak_size = (long)arg_num(argc, argv, "leak-size", 256);
  double balanced_rate = arg_num(argc, argv, "balanced-rate", 1000);
  double mmap_rate = arg_num(argc, argv, "mmap-rate", 0);
  long mmap_size = (long)arg_num(argc, argv, "mmap-size", 65536);
  double interval = arg_num(argc, argv, "interval", 1);
  double duration = arg_num(argc, argv, "duration", 0);
  int stamps = arg_num(argc, argv, "stamps", 0) != 0;
  if (leak_size < 1 || interval <= 0) {
    fprintf(stderr, "cleak: -leak-size must be >= 1 and -interval > 0\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  static const char* records[] = {
      "alpha=1;beta=2;gamma=3",
      "user=root;shell=/bin/sh",
      "k=v",
      "name=leakhound;kind=agent;v=1",
  };
  long leaked_allocs = 0, balanced = 0, mapped = 0;
  double start = now_s();
  printf("ready pid=%d variant=%s leak_size=%ld\n", (int)getpid(), VARIANT, leak_size);
  long tick = 0;
  for (;;) {
    long long from_us = unix_us();
    double el = now_s() - start;
    long before_leaks = leaked_allocs, before_maps = mapped;
    long want_leaks = (long)(el * leak_rate);
    while (leaked_allocs < want_leaks) {
      char* name = leaky_parse_record(records[leaked_allocs % 4], (size_t)leak_size);
      leaked_allocs++;
      (void)name;  // dropped: the leak
    }
    long want_maps = (long)(el * mmap_rate);
    while (mapped < want_maps) {
      leaky_map_region((size_t)mmap_size);
      mapped++;
    }
    if (stamps && (leaked_allocs != before_leaks || mapped != before_maps))
      printf("leaked leaked_bytes=%ld leaked_allocs=%ld mapped_bytes=%ld from_us=%lld to_us=%lld\n",
             leaked_allocs * leak_size, leaked_allocs, mapped * mmap_size, from_us, unix_us());
    long want_bal = (long)(el * balanced_rate);
    while (balanced < want_bal) {
      leaky_balanced(64 + (size_t)(balanced * 97) % 4000);
      balanced++;
    }
    if (got_usr1) {
      got_usr1 = 0;
      printf("leaked_bytes=%ld leaked_allocs=%ld mapped_bytes=%ld\n", leaked_allocs * leak_size,
             leaked_allocs, mapped * mmap_size);
    }
    if (el >= (tick + 1) * interval) {
      tick++;
      printf("tick=%ld elapsed_s=%.3f leaked_bytes=%ld leaked_allocs=%ld\n", tick, el,
             leaked_allocs * leak_size, leaked_allocs);
    }
    if (got_term) {
      printf("exit signal\n");
      return 0;
    }
    if (duration > 0 && el >= duration) {
      printf("exit duration\n");
      return 0;
    }
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);  // EINTR (a signal) just ends the nap early
  }
}
