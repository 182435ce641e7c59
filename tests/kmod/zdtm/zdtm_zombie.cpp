// Zombies: children that exited (with a status, and killed by a signal) but were not yet
// reaped keep their PIDs and statuses.
#include <sys/wait.h>
#include <unistd.h>

#include "zdtm.h"

int main() {
  zdtm_init();
  pid_t exited = fork();
  if (exited == 0) _exit(7);
  pid_t killed = fork();
  if (killed == 0) {
    for (;;) pause();
  }
  kill(killed, SIGTERM);
  usleep(100000);  // both are zombies now
  siginfo_t si;
  if (waitid(P_PID, static_cast<id_t>(exited), &si, WEXITED | WNOWAIT) != 0)
    zdtm_fail("not a zombie");
  zdtm_ready();
  zdtm_wait();
  int st;
  if (waitpid(exited, &st, 0) != exited || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
    zdtm_fail("exited child: status %x", st);
  if (waitpid(killed, &st, 0) != killed || !WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM)
    zdtm_fail("killed child: status %x", st);
  zdtm_pass("zdtm_zombie");
}
