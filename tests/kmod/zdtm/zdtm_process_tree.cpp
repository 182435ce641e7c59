// A tree three levels deep with a new session and process groups: every process keeps its
// PID, parent, session and group, and each child reports back through its exit status.
#include <sys/wait.h>
#include <unistd.h>

#include "zdtm.h"

// Each descendant waits for SIGUSR1 from its parent, checks itself, signals its own child,
// and exits 0 if all is well.
[[noreturn]] static void descendant(int depth) {
  if (depth == 1) setsid();
  if (depth == 2) setpgid(0, 0);
  pid_t child = -1;
  if (depth < 3) {
    child = fork();
    if (child == 0) {
      descendant(depth + 1);
      _exit(99);
    }
  }
  Ids before = ids();
  zdtm_wait();
  if (!same(before, ids())) _exit(30 + depth);
  if (child > 0) {
    kill(child, SIGUSR1);
    int st;
    if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      _exit(40 + depth);
  }
  _exit(0);
}

int main() {
  zdtm_init();
  pid_t child = fork();
  if (child == 0) descendant(1);
  usleep(300000);
  Ids before = ids();
  zdtm_ready();
  zdtm_wait();
  if (!same(before, ids())) zdtm_fail("init ids changed");
  kill(child, SIGUSR1);
  int st;
  if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    zdtm_fail("subtree failed: status %x", st);
  zdtm_pass("zdtm_process_tree");
}
