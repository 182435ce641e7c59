// POSIX timers are not supported yet: the capture must refuse them by name and this
// process must keep running unharmed, its timer still armed.
#include <time.h>

#include "zdtm.h"

int main() {
  zdtm_init();
  timer_t t;
  struct sigevent ev = {};
  ev.sigev_notify = SIGEV_NONE;
  if (timer_create(CLOCK_MONOTONIC, &ev, &t)) zdtm_fail("timer_create");
  struct itimerspec its = {};
  its.it_value.tv_sec = 100;
  timer_settime(t, 0, &its, nullptr);
  zdtm_ready();
  zdtm_wait();
  struct itimerspec left;
  timer_gettime(t, &left);
  if (left.it_value.tv_sec < 50) zdtm_fail("timer lost");
  zdtm_pass("zdtm_unsupported_posix_timer");
}
