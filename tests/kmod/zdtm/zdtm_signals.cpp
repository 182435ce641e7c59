// Signal state: handlers with flags and masks, ignored signals, the blocked mask, and
// pending signals (a queued real-time signal with its value, a blocked standard one).
#include <string.h>
#include <unistd.h>

#include "zdtm.h"

static volatile sig_atomic_t usr2_count = 0;
static void on_usr2(int, siginfo_t*, void*) {
  usr2_count = usr2_count + 1;
}

static void on_trap(int) {}

int main() {
  zdtm_init();
  struct sigaction sa = {};
  sa.sa_sigaction = on_usr2;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGHUP);
  sigaction(SIGUSR2, &sa, nullptr);
  signal(SIGINT, SIG_IGN);
  // A SIGTRAP handler (debuggers, JITs have one): a ptrace single-step trap taken while the
  // signal is blocked would reset it to SIG_DFL.
  signal(SIGTRAP, on_trap);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGRTMIN + 2);
  sigaddset(&block, SIGTERM);
  sigprocmask(SIG_BLOCK, &block, nullptr);
  union sigval v;
  v.sival_int = 42;
  sigqueue(getpid(), SIGRTMIN + 2, v);
  kill(getpid(), SIGTERM);  // SI_USER: the kernel records the sender's PID
  struct sigaction before_usr2 = {}, before_int = {};
  sigaction(SIGUSR2, nullptr, &before_usr2);
  sigaction(SIGINT, nullptr, &before_int);
  sigset_t mask_before;
  sigprocmask(SIG_SETMASK, nullptr, &mask_before);

  zdtm_ready();
  zdtm_wait();

  struct sigaction now = {};
  sigaction(SIGUSR2, nullptr, &now);
  if (now.sa_sigaction != before_usr2.sa_sigaction || now.sa_flags != before_usr2.sa_flags ||
      // The kernel's mask is 64 bits; glibc leaves the rest of sigset_t undefined.
      memcmp(&now.sa_mask, &before_usr2.sa_mask, 8) != 0)
    zdtm_fail("SIGUSR2 disposition changed: handler %p flags %lx mask %lx, was %p %lx %lx",
              reinterpret_cast<void*>(now.sa_sigaction), static_cast<unsigned long>(now.sa_flags),
              *reinterpret_cast<unsigned long*>(&now.sa_mask),
              reinterpret_cast<void*>(before_usr2.sa_sigaction),
              static_cast<unsigned long>(before_usr2.sa_flags),
              *reinterpret_cast<unsigned long*>(&before_usr2.sa_mask));
  sigaction(SIGINT, nullptr, &now);
  if (now.sa_handler != SIG_IGN) zdtm_fail("SIGINT no longer ignored");
  sigaction(SIGTRAP, nullptr, &now);
  if (now.sa_handler != on_trap) zdtm_fail("SIGTRAP handler lost");
  sigset_t mask_now;
  sigprocmask(SIG_SETMASK, nullptr, &mask_now);
  if (memcmp(&mask_now, &mask_before, 8) != 0) zdtm_fail("blocked mask changed");
  sigset_t pending;
  sigpending(&pending);
  if (!sigismember(&pending, SIGRTMIN + 2) || !sigismember(&pending, SIGTERM))
    zdtm_fail("pending signals lost");
  siginfo_t si;
  sigset_t rt;
  sigemptyset(&rt);
  sigaddset(&rt, SIGRTMIN + 2);
  struct timespec zero = {0, 0};
  if (sigtimedwait(&rt, &si, &zero) != SIGRTMIN + 2 || si.si_value.sival_int != 42)
    zdtm_fail("queued real-time signal lost its value");
  if (si.si_code != SI_QUEUE || si.si_pid != getpid())
    zdtm_fail("queued signal's sender is %d (code %d), not this process %d", si.si_pid, si.si_code,
              getpid());
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  if (sigtimedwait(&term, &si, &zero) != SIGTERM) zdtm_fail("pending SIGTERM lost");
  if (si.si_code != SI_USER || si.si_pid != getpid()) zdtm_fail("SIGTERM sender %d", si.si_pid);
  raise(SIGUSR2);
  if (usr2_count != 1) zdtm_fail("handler did not run");
  zdtm_pass("zdtm_signals");
}
