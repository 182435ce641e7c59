// pidfds: one of a child still running, one of a child that has exited (a zombie), and a
// copy of the first shared through dup. After the revive: the running child's pidfd is not
// readable, signals it (pidfd_send_signal) and becomes readable when it dies; waitid through
// each pidfd reaps the right child with its status.
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtm.h"

static int pidfd_open(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

static int readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

int main() {
  zdtm_init();
  pid_t running = fork();
  if (running == 0) {
    for (;;) pause();
  }
  pid_t exited = fork();
  if (exited == 0) _exit(7);
  int run_fd = pidfd_open(running), exit_fd = pidfd_open(exited);
  if (run_fd < 0 || exit_fd < 0) zdtm_fail("pidfd_open");
  int copy = dup(run_fd);
  while (!readable(exit_fd, 1000)) {
  }
  zdtm_ready();
  zdtm_wait();

  if (readable(run_fd, 0)) zdtm_fail("the running child's pidfd is readable");
  if (!readable(exit_fd, 0)) zdtm_fail("the exited child's pidfd is not readable");
  siginfo_t si{};
  if (waitid(P_PIDFD, static_cast<id_t>(exit_fd), &si, WEXITED) || si.si_pid != exited ||
      si.si_code != CLD_EXITED || si.si_status != 7)
    zdtm_fail("waitid on the exited child's pidfd: pid %d code %d status %d", si.si_pid,
              si.si_code, si.si_status);
  if (syscall(SYS_pidfd_send_signal, copy, SIGTERM, nullptr, 0))
    zdtm_fail("pidfd_send_signal through the dup'ed pidfd");
  if (!readable(run_fd, 5000)) zdtm_fail("the pidfd did not become readable");
  si = {};
  if (waitid(P_PIDFD, static_cast<id_t>(run_fd), &si, WEXITED) || si.si_pid != running ||
      si.si_code != CLD_KILLED || si.si_status != SIGTERM)
    zdtm_fail("waitid on the running child's pidfd: pid %d code %d status %d", si.si_pid,
              si.si_code, si.si_status);
  zdtm_pass("zdtm_pidfd");
}
