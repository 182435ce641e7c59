// Interval timers keep running (with the time they had left), the alternate signal stack
// is still registered and used, and the robust futex list head is unchanged.
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "zdtm.h"

static char altstack[64 * 1024];
static volatile sig_atomic_t alarms = 0;
static volatile sig_atomic_t on_altstack = 0;

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
  struct itimerval it = {};
  it.it_value.tv_sec = 2;  // fires after the checkpoint, in every copy
  setitimer(ITIMER_REAL, &it, nullptr);
  struct itimerval prof = {};
  prof.it_interval.tv_sec = 100;
  prof.it_value.tv_sec = 100;
  setitimer(ITIMER_PROF, &prof, nullptr);
  struct robust_list_head* head_before;
  size_t len_before;
  syscall(SYS_get_robust_list, 0, &head_before, &len_before);

  zdtm_ready();
  zdtm_wait();

  stack_t now;
  sigaltstack(nullptr, &now);
  if (now.ss_sp != altstack || now.ss_size != sizeof altstack || now.ss_flags != 0)
    zdtm_fail("alternate signal stack changed");
  struct robust_list_head* head;
  size_t len;
  syscall(SYS_get_robust_list, 0, &head, &len);
  if (head != head_before || len != len_before) zdtm_fail("robust list changed");
  struct itimerval left;
  getitimer(ITIMER_PROF, &left);
  if (left.it_interval.tv_sec != 100 || left.it_value.tv_sec < 90) zdtm_fail("ITIMER_PROF lost");
  getitimer(ITIMER_REAL, &left);
  if (alarms == 0 && left.it_value.tv_sec == 0 && left.it_value.tv_usec == 0)
    zdtm_fail("ITIMER_REAL disarmed before firing");
  // The alarm must still arrive, within its original 2 s.
  for (int i = 0; i < 300 && alarms == 0; ++i) usleep(10000);
  if (alarms != 1) zdtm_fail("SIGALRM arrived %d times", static_cast<int>(alarms));
  if (!on_altstack) zdtm_fail("handler did not run on the alternate stack");
  zdtm_pass("zdtm_timers");
}
