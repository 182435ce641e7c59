// POSIX timers: a one-shot signal timer on CLOCK_MONOTONIC with a signal value, a periodic
// SIGEV_NONE timer on CLOCK_REALTIME, a disarmed one on CLOCK_BOOTTIME, and a fast periodic
// timer notifying a second thread (SIGEV_THREAD_ID) whose signal waits long enough to count
// overruns, and a one-shot timer that fired with its signal blocked. After the revive: the same ids, clocks and notifications (/proc/self/timers), time
// left not more than before the checkpoint, intervals kept, and the thread's timer still
// delivering to that thread with overruns counted, and the fired timer's signal still pending
// with its code and value.
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "zdtm.h"

static uint64_t ns(const timespec& t) {
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

static std::string proc_timers() {
  std::ifstream in("/proc/self/timers");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

static const int kThreadSig = SIGRTMIN + 3;
static std::atomic<int> delivered{0}, last_overrun{0}, wrong{0};
static std::atomic<pid_t> worker_tid{0};
static timer_t thread_timer;

static void* worker(void*) {
  worker_tid = static_cast<pid_t>(syscall(SYS_gettid));
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, kThreadSig);
  for (;;) {
    usleep(20000);  // the 1 ms timer overruns meanwhile
    siginfo_t si;
    if (sigwaitinfo(&s, &si) != kThreadSig) continue;
    if (si.si_code != SI_TIMER || si.si_value.sival_int != 42) ++wrong;
    last_overrun = si.si_overrun;
    ++delivered;
  }
  return nullptr;
}

int main() {
  zdtm_init();
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, kThreadSig);
  sigaddset(&s, SIGRTMIN + 2);
  sigaddset(&s, SIGRTMIN + 4);
  sigprocmask(SIG_BLOCK, &s, nullptr);
  pthread_t th;
  pthread_create(&th, nullptr, worker, nullptr);
  while (!worker_tid) usleep(1000);

  timer_t once, none, idle;
  sigevent ev{};
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = SIGRTMIN + 2;
  ev.sigev_value.sival_int = 7;
  if (timer_create(CLOCK_MONOTONIC, &ev, &once)) zdtm_fail("timer_create once");
  ev = {};
  ev.sigev_notify = SIGEV_NONE;
  if (timer_create(CLOCK_REALTIME, &ev, &none)) zdtm_fail("timer_create none");
  ev = {};
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = SIGRTMIN + 2;
  if (timer_create(CLOCK_BOOTTIME, &ev, &idle)) zdtm_fail("timer_create idle");
  ev = {};
  ev.sigev_notify = SIGEV_THREAD_ID;
  ev.sigev_signo = kThreadSig;
  ev.sigev_value.sival_int = 42;
  ev._sigev_un._tid = worker_tid;
  if (timer_create(CLOCK_MONOTONIC, &ev, &thread_timer)) zdtm_fail("timer_create thread");

  // A one-shot timer that fired before the checkpoint: its signal waits, blocked.
  timer_t fired;
  ev = {};
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = SIGRTMIN + 4;
  ev.sigev_value.sival_int = 9;
  itimerspec soon{{0, 0}, {0, 1000000}};
  if (timer_create(CLOCK_MONOTONIC, &ev, &fired) || timer_settime(fired, 0, &soon, nullptr))
    zdtm_fail("timer_create fired");
  for (sigset_t p; sigpending(&p) == 0 && !sigismember(&p, SIGRTMIN + 4);) usleep(1000);

  itimerspec once_spec{{0, 0}, {30, 0}}, none_spec{{60, 0}, {45, 0}}, fast{{0, 1000000}, {0, 1000000}};
  if (timer_settime(once, 0, &once_spec, nullptr) || timer_settime(none, 0, &none_spec, nullptr) ||
      timer_settime(thread_timer, 0, &fast, nullptr))
    zdtm_fail("timer_settime");
  while (delivered < 2) usleep(1000);
  if (last_overrun <= 0) zdtm_fail("no overrun before the checkpoint");

  std::string listed = proc_timers();
  itimerspec once_before, none_before;
  timer_gettime(once, &once_before);
  timer_gettime(none, &none_before);
  zdtm_ready();
  zdtm_wait();

  if (proc_timers() != listed)
    zdtm_fail("/proc/self/timers changed:\n%s\nwas:\n%s", proc_timers().c_str(), listed.c_str());
  itimerspec now;
  if (timer_gettime(once, &now)) zdtm_fail("timer %p is gone", once);
  if (ns(now.it_value) == 0 || ns(now.it_value) > ns(once_before.it_value) || ns(now.it_interval))
    zdtm_fail("one-shot timer has %llu ns left, had %llu", (unsigned long long)ns(now.it_value),
              (unsigned long long)ns(once_before.it_value));
  if (timer_gettime(none, &now)) zdtm_fail("SIGEV_NONE timer is gone");
  if (ns(now.it_value) == 0 || ns(now.it_value) > ns(none_before.it_value) ||
      ns(now.it_interval) != 60000000000ull)
    zdtm_fail("SIGEV_NONE timer: %llu ns left (had %llu), interval %llu",
              (unsigned long long)ns(now.it_value), (unsigned long long)ns(none_before.it_value),
              (unsigned long long)ns(now.it_interval));
  if (timer_gettime(idle, &now) || ns(now.it_value) || ns(now.it_interval))
    zdtm_fail("disarmed timer is gone or armed");

  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, SIGRTMIN + 4);
  siginfo_t si{};
  timespec none_left{0, 0};
  if (sigtimedwait(&only, &si, &none_left) != SIGRTMIN + 4 || si.si_code != SI_TIMER ||
      si.si_value.sival_int != 9)
    zdtm_fail("the fired timer's pending signal is lost or changed (code %d value %d)",
              si.si_code, si.si_value.sival_int);

  int before = delivered;
  last_overrun = 0;
  for (int i = 0; i < 500 && (delivered < before + 2 || last_overrun <= 0); ++i) usleep(10000);
  if (delivered < before + 2) zdtm_fail("the thread's timer stopped delivering");
  if (last_overrun <= 0) zdtm_fail("no overrun counted after the revive");
  if (timer_getoverrun(thread_timer) < 0) zdtm_fail("timer_getoverrun");
  if (wrong) zdtm_fail("%d signals with the wrong code or value", wrong.load());
  zdtm_pass("zdtm_posix_timers");
}
