// pidat: hands a running program's PID to another program, to test what
// leakhound does when its target exits and the PID is reused.
//
//   pidat PROGRAM [ARGS...] --then PROGRAM2 [ARGS...]
//
// Runs PROGRAM as a child. On SIGUSR1 it kills that child (SIGKILL), reaps it
// and at once starts PROGRAM2 with the very same PID: clone3's set_tid (Linux
// 5.5+; root) creates a process with a chosen PID. The gap between the two is
// a few microseconds, so a tool polling the PID sees the new program, not a
// missing process. The new child writes "pidat: PID N now runs PROGRAM2" on
// stdout before it execs. Children inherit stdin/stdout/stderr; SIGTERM and
// SIGINT are passed on to the current child; pidat exits with its status
// (128+signal when killed). Errors: exit 125 with one line on stderr.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t switch_requested, stop_signal;

static void on_usr1(int sig) {
  (void)sig;
  switch_requested = 1;
}
static void on_stop(int sig) { stop_signal = sig; }

// Starts argv as a child with PID `want` (0: any); returns its PID or -1.
static pid_t spawn(char** argv, pid_t want) {
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.exit_signal = SIGCHLD;
  pid_t tid = want;
  if (want > 0) {
    args.set_tid = (uint64_t)(uintptr_t)&tid;
    args.set_tid_size = 1;
  }
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) {
    fprintf(stderr, "pidat: cannot start %s%s: %s\n", argv[0], want > 0 ? " at the same PID" : "",
            strerror(errno));
    return -1;
  }
  if (pid == 0) {
    if (want > 0) {
      char line[512];
      int n = snprintf(line, sizeof line, "pidat: PID %d now runs %s\n", (int)getpid(), argv[0]);
      if (n > 0 && write(STDOUT_FILENO, line, (size_t)n) < 0) _exit(125);
    }
    execvp(argv[0], argv);
    fprintf(stderr, "pidat: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(125);
  }
  return (pid_t)pid;
}

int main(int argc, char** argv) {
  int then = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--then") == 0) then = i;
  }
  if (then < 2 || then == argc - 1) {
    fprintf(stderr, "usage: pidat PROGRAM [ARGS...] --then PROGRAM2 [ARGS...]\n");
    return 125;
  }
  argv[then] = NULL;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  pid_t child = spawn(argv + 1, 0);
  if (child < 0) return 125;
  int status;
  // Polled (5 ms): a signal can never be lost between a check and a wait.
  for (;;) {
    pid_t r = waitpid(child, &status, WNOHANG);
    if (r == child) break;
    if (r < 0 && errno != EINTR) {
      fprintf(stderr, "pidat: waitpid: %s\n", strerror(errno));
      return 125;
    }
    if (stop_signal) {
      kill(child, stop_signal);
      stop_signal = 0;
    }
    if (switch_requested && then) {
      switch_requested = 0;
      kill(child, SIGKILL);
      while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      // Reaped: the PID is free for the next process this instant.
      child = spawn(argv + then + 1, child);
      if (child < 0) return 125;
      then = 0;
      continue;
    }
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}
