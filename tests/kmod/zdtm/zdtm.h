// The zdtm protocol for test programs: set up state, zdtm_ready(), zdtm_wait() until the
// harness sends SIGUSR1, verify, then zdtm_pass() or zdtm_fail().
#pragma once

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

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

/// A process's place in the tree, checked before and after a revive.
struct Ids {
  pid_t pid, ppid, pgid, sid;
};
static inline Ids ids(void) {
  return {getpid(), getppid(), getpgrp(), getsid(0)};
}
static inline bool same(const Ids& a, const Ids& b) {
  return a.pid == b.pid && a.ppid == b.ppid && a.pgid == b.pgid && a.sid == b.sid;
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

/// Brings up the loopback of this network namespace (the engine's harness leaves it down).
static inline void zdtm_loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct ifreq ifr = {};
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) zdtm_fail("SIOCGIFFLAGS: %m");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) zdtm_fail("SIOCSIFFLAGS: %m");
  close(s);
}

static inline int zdtm_pass(const char* name) {
  printf("PASS %s\n", name);
  exit(0);
}

static inline double zdtm_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* When this process started, in clock ticks since boot (/proc/self/stat field 22). A revived
   copy is a new process: its start time is that of its revive. */
static unsigned long long zdtm_start_time(void) {
  char buf[1024] = {};
  FILE* f = fopen("/proc/self/stat", "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char* p = strrchr(buf, ')');
  for (int field = 2; p && field < 22; ++field) p = strchr(p + 1, ' ');
  return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* How long this copy spent between its checkpoint and its revive, when the wall clock went on
   but it did not run (its timers neither). A thread wakes every millisecond; a gap over 5 ms
   after which the process has a new start time was a revive. Other gaps (the original's
   freeze, a busy machine) are not counted: the original's timers run on through them. */
static long long zdtm_paused_ns = 0;
static long long zdtm_meter_ticks = 0;

static void* zdtm_pause_meter(void*) {
  unsigned long long born = zdtm_start_time();
  double last = zdtm_now();
  for (;;) {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
    double t = zdtm_now();
    if (t - last > 0.005 && zdtm_start_time() != born) {
      born = zdtm_start_time();
      __atomic_add_fetch(&zdtm_paused_ns, (long long)((t - last) * 1e9), __ATOMIC_RELAXED);
    }
    last = t;
    __atomic_add_fetch(&zdtm_meter_ticks, 1, __ATOMIC_RELEASE);
  }
  return NULL;
}

/// Starts the pause meter; its thread blocks every signal, so none is delivered to it.
static inline void zdtm_start_pause_meter(void) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  if (pthread_create(&t, NULL, zdtm_pause_meter, NULL) != 0) zdtm_fail("pthread_create");
  pthread_detach(t);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/// Seconds this copy did not run because it was checkpointed and revived later. Lets the meter
/// wake twice first, so a revive just before the call is counted.
static inline double zdtm_paused(void) {
  long long from = __atomic_load_n(&zdtm_meter_ticks, __ATOMIC_ACQUIRE);
  while (__atomic_load_n(&zdtm_meter_ticks, __ATOMIC_ACQUIRE) < from + 2) {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  return (double)__atomic_load_n(&zdtm_paused_ns, __ATOMIC_RELAXED) / 1e9;
}
