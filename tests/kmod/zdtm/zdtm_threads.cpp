// Threads: each keeps its TID, name, thread-local data, stack, signal mask, a signal queued
// to it alone, and its blocked wait on a condition variable; pthread_join still works
// afterwards (clear_child_tid restored).
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtm.h"

constexpr int kThreads = 4;
static thread_local long tls_value;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool go = false;
static int started = 0;
static pid_t tids[kThreads];

static void* worker(void* arg) {
  long i = reinterpret_cast<long>(arg);
  tls_value = 1000 + i;
  volatile char stack_data[4096];
  for (int k = 0; k < 4096; ++k) stack_data[k] = static_cast<char>(k + i);
  tids[i] = static_cast<pid_t>(syscall(SYS_gettid));
  char name[16];
  snprintf(name, sizeof name, "worker-%ld", i);
  pthread_setname_np(pthread_self(), name);
  // Each thread blocks a different real-time signal; main queues one to each thread.
  sigset_t mine;
  sigemptyset(&mine);
  sigaddset(&mine, SIGRTMIN + 3 + static_cast<int>(i));
  pthread_sigmask(SIG_BLOCK, &mine, nullptr);
  pthread_mutex_lock(&mu);
  ++started;
  pthread_cond_broadcast(&cv);
  while (!go) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  if (tls_value != 1000 + i) return reinterpret_cast<void*>(1);
  for (int k = 0; k < 4096; ++k)
    if (stack_data[k] != static_cast<char>(k + i)) return reinterpret_cast<void*>(2);
  if (syscall(SYS_gettid) != tids[i]) return reinterpret_cast<void*>(3);
  char now[16];
  pthread_getname_np(pthread_self(), now, sizeof now);
  if (strcmp(now, name) != 0) return reinterpret_cast<void*>(4);
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  if (!sigismember(&mask, SIGRTMIN + 3 + static_cast<int>(i))) return reinterpret_cast<void*>(5);
  siginfo_t si;
  struct timespec zero = {0, 0};
  if (sigtimedwait(&mine, &si, &zero) != SIGRTMIN + 3 + static_cast<int>(i) ||
      si.si_value.sival_int != 700 + i)
    return reinterpret_cast<void*>(6);
  return reinterpret_cast<void*>(100 + i);
}

int main() {
  zdtm_init();
  pthread_t th[kThreads];
  for (long i = 0; i < kThreads; ++i)
    pthread_create(&th[i], nullptr, worker, reinterpret_cast<void*>(i));
  pthread_mutex_lock(&mu);
  while (started < kThreads) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < kThreads; ++i) {
    siginfo_t si = {};
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_int = 700 + i;
    if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tids[i], SIGRTMIN + 3 + i, &si) != 0)
      zdtm_fail("queue a signal to thread %d", i);
  }
  zdtm_ready();
  zdtm_wait();
  pthread_mutex_lock(&mu);
  go = true;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  for (long i = 0; i < kThreads; ++i) {
    void* r;
    pthread_join(th[i], &r);
    if (reinterpret_cast<long>(r) != 100 + i)
      zdtm_fail("thread %ld returned %ld", i, reinterpret_cast<long>(r));
  }
  zdtm_pass("zdtm_threads");
}
