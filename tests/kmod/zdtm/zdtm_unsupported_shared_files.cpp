// Two processes sharing one fd table (clone with CLONE_FILES but not CLONE_THREAD) cannot be
// revived as they are yet: the capture must refuse by name and leave both running.
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtm.h"

int main() {
  zdtm_init();
  long child = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
  if (child == 0) {
    for (;;) pause();
  }
  zdtm_ready();
  zdtm_wait();
  kill(static_cast<pid_t>(child), SIGKILL);
  int st;
  if (waitpid(static_cast<pid_t>(child), &st, 0) != child || !WIFSIGNALED(st)) zdtm_fail("child");
  zdtm_pass("zdtm_unsupported_shared_files");
}
