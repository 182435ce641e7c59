// eventfd (a counter, and one in semaphore mode), timerfd (a periodic one with time left, an
// expired one whose expiration was not read, one on CLOCK_REALTIME) and signalfd (its mask,
// and a signal pending for it). The timer's time left after the revive must not exceed what
// it had before the checkpoint.
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "zdtm.h"

static uint64_t ns(const timespec& t) {
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

static std::string fdinfo(int fd, const std::string& key) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) return line.substr(key.size());
  return "";
}

int main() {
  zdtm_init();
  int counter = eventfd(0, EFD_NONBLOCK), sem = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
  uint64_t five = 5;
  if (counter < 0 || sem < 0 || write(counter, &five, 8) != 8) zdtm_fail("eventfd");

  int periodic = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  itimerspec spec{{0, 100000000}, {30, 0}};  // first in 30 s, then every 0.1 s
  int expired = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  itimerspec once{{0, 0}, {0, 1000000}};
  int wall = timerfd_create(CLOCK_REALTIME, 0);
  itimerspec wall_spec{{60, 0}, {60, 0}};
  if (periodic < 0 || expired < 0 || wall < 0 || timerfd_settime(periodic, 0, &spec, nullptr) ||
      timerfd_settime(expired, 0, &once, nullptr) || timerfd_settime(wall, 0, &wall_spec, nullptr))
    zdtm_fail("timerfd");
  usleep(20000);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR2);
  sigaddset(&mask, SIGRTMIN + 1);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK);
  if (sfd < 0) zdtm_fail("signalfd");
  raise(SIGUSR2);
  std::string sigmask = fdinfo(sfd, "sigmask:");

  itimerspec left_before;
  timerfd_gettime(periodic, &left_before);
  zdtm_ready();
  zdtm_wait();

  uint64_t v = 0;
  if (read(counter, &v, 8) != 8 || v != 5) zdtm_fail("eventfd counter %llu, not 5", (unsigned long long)v);
  if (read(sem, &v, 8) != 8 || v != 1) zdtm_fail("semaphore eventfd read %llu, not 1", (unsigned long long)v);
  if (read(sem, &v, 8) != 8 || read(sem, &v, 8) != 8 || read(sem, &v, 8) != -1)
    zdtm_fail("semaphore eventfd did not count down from 3");

  itimerspec now;
  timerfd_gettime(periodic, &now);
  if (ns(now.it_interval) != 100000000ull) zdtm_fail("timer interval %llu ns", (unsigned long long)ns(now.it_interval));
  if (ns(now.it_value) == 0 || ns(now.it_value) > ns(left_before.it_value))
    zdtm_fail("timer has %llu ns left, had %llu before the checkpoint",
              (unsigned long long)ns(now.it_value), (unsigned long long)ns(left_before.it_value));
  if (read(expired, &v, 8) != 8 || v != 1) zdtm_fail("expired timer's expiration lost");
  if (fdinfo(wall, "clockid:").find('0') == std::string::npos) zdtm_fail("realtime timer's clock changed");
  timerfd_gettime(wall, &now);
  if (ns(now.it_interval) != 60000000000ull) zdtm_fail("realtime timer's interval changed");

  if (fdinfo(sfd, "sigmask:") != sigmask) zdtm_fail("signalfd mask changed");
  signalfd_siginfo si;
  if (read(sfd, &si, sizeof si) != sizeof si || si.ssi_signo != SIGUSR2)
    zdtm_fail("pending signal not read through the signalfd");
  zdtm_pass("zdtm_event_fds");
}
