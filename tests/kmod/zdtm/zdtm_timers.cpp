// Interval timers keep running with the time they had left, the alternate signal stack
// is still registered and used, and the robust futex list head is unchanged.
//
// ITIMER_REAL is armed for 5 s and "ready" comes 0.5 s later, with the time left recorded.
// At the check, the time left must be what it was at ready minus the time this copy ran
// since (the wall clock minus the time between its checkpoint and its revive: zdtm_paused()). A
// revive that armed the full 5 s again is off by at least 0.5 s; one that lost the timer finds it
// disarmed. A copy checked after its alarm fired proves nothing and fails as "too late".
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "zdtm.h"

static char altstack[64 * 1024];
static volatile sig_atomic_t alarms = 0;
static volatile sig_atomic_t on_altstack = 0;
// A revived copy's timer runs from its restore, a little before the copy runs again, and its
// time left was read a little after the copy stopped: it may have less left, by that much.
static constexpr double kLess = 0.15, kMore = 0.05;

static double seconds(const struct timeval& t) {
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}

static double real_left() {
  struct itimerval it;
  getitimer(ITIMER_REAL, &it);
  return seconds(it.it_value);
}

static void on_alarm(int) {
  char here;
  on_altstack = &here >= altstack && &here < altstack + sizeof altstack;
  alarms = alarms + 1;
}

int main() {
  zdtm_init();
  stack_t ss = {};
  ss.ss_sp = altstack;
  ss.ss_size = sizeof altstack;
  sigaltstack(&ss, nullptr);
  struct sigaction sa = {};
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_ONSTACK | SA_RESTART;
  sigaction(SIGALRM, &sa, nullptr);
  zdtm_start_pause_meter();
  struct itimerval it = {};
  it.it_value.tv_sec = 5;  // fires after the check, in every copy
  setitimer(ITIMER_REAL, &it, nullptr);
  struct itimerval prof = {};
  prof.it_interval.tv_sec = 100;
  prof.it_value.tv_sec = 100;
  setitimer(ITIMER_PROF, &prof, nullptr);
  struct robust_list_head* head_before;
  size_t len_before;
  syscall(SYS_get_robust_list, 0, &head_before, &len_before);

  usleep(500000);  // a restart of the full 5 s would show
  double paused_at_ready = zdtm_paused();
  double ready_at = zdtm_now();
  double left_at_ready = real_left();
  zdtm_ready();
  zdtm_wait();
  double left = real_left();
  double ran = zdtm_now() - ready_at, paused = zdtm_paused() - paused_at_ready;
  if (alarms != 0)
    zdtm_fail("too late: the alarm fired before the check (%.2f s after ready)", ran);
  double expected = left_at_ready - (ran - paused);
  if (left < expected - kLess || left > expected + kMore)
    zdtm_fail(
        "ITIMER_REAL has %.3f s left, not %.3f: %.3f s at ready, %.3f s ago, %.3f s of it "
        "before a revive",
        left, expected, left_at_ready, ran, paused);
  double checked_at = zdtm_now();

  stack_t now;
  sigaltstack(nullptr, &now);
  if (now.ss_sp != altstack || now.ss_size != sizeof altstack || now.ss_flags != 0)
    zdtm_fail("alternate signal stack changed");
  struct robust_list_head* head;
  size_t len;
  syscall(SYS_get_robust_list, 0, &head, &len);
  if (head != head_before || len != len_before) zdtm_fail("robust list changed");
  getitimer(ITIMER_PROF, &prof);
  if (prof.it_interval.tv_sec != 100 || prof.it_value.tv_sec < 90) zdtm_fail("ITIMER_PROF lost");
  // The alarm arrives when the time left says, once.
  while (alarms == 0 && zdtm_now() - checked_at < left + 1) usleep(1000);
  double fired = zdtm_now() - checked_at;
  if (alarms != 1) zdtm_fail("SIGALRM arrived %d times", static_cast<int>(alarms));
  if (fired < left - kMore) zdtm_fail("SIGALRM after %.3f s, %.3f s were left", fired, left);
  if (!on_altstack) zdtm_fail("handler did not run on the alternate stack");
  zdtm_pass("zdtm_timers");
}
