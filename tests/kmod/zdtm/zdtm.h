// The zdtm protocol for test programs: set up state, zdtm_ready(), zdtm_wait() until the
// harness sends SIGUSR1, verify, then zdtm_pass() or zdtm_fail().
#pragma once

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t zdtm_signalled = 0;

static void zdtm_on_usr1(int) {
  zdtm_signalled = 1;
}

/// Call first: SIGUSR1 is blocked except while waiting, so it cannot be lost.
static inline void zdtm_init(void) {
  struct sigaction sa = {};
  sa.sa_handler = zdtm_on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  sigprocmask(SIG_BLOCK, &s, NULL);
  setvbuf(stdout, NULL, _IONBF, 0);
}

/// Whether a /proc/self/maps or smaps header line is one of the two pages a recorder's engine
/// keeps in a recorded process at 0x64656a610000 (docs/engine-support.md): not the program's.
static inline int zdtm_engine_mapping(const char* line) {
  return strncmp(line, "64656a610000-", 13) == 0 || strncmp(line, "64656a611000-", 13) == 0;
}

static inline void zdtm_ready(void) {
  printf("ready\n");
}

static inline void zdtm_wait(void) {
  sigset_t s;
  sigprocmask(SIG_SETMASK, NULL, &s);
  sigdelset(&s, SIGUSR1);
  while (!zdtm_signalled) sigsuspend(&s);
}

static inline int zdtm_fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("FAIL: ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  exit(1);
}

static inline int zdtm_pass(const char* name) {
  printf("PASS %s\n", name);
  exit(0);
}
