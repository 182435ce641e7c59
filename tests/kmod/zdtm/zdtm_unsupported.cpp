// State the engine refuses by name (docs/engine-support.md), one kind per run:
//   zdtm_unsupported seccomp | stopped | pidns
// The capture must fail naming it, and this program must keep running unharmed: after the
// refused checkpoint it checks the state is still there.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtm.h"

// An allow-everything filter: the process has seccomp state, and nothing else changes.
static void use_seccomp(void) {
  struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog prog = {1, &allow};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
    zdtm_fail("seccomp filter");
}

// A child stopped by job control; once continued it exits 0.
static pid_t stopped_child(void) {
  pid_t child = fork();
  if (child == 0) {
    raise(SIGSTOP);
    _exit(0);
  }
  int st;
  if (waitpid(child, &st, WUNTRACED) != child || !WIFSTOPPED(st)) zdtm_fail("child not stopped");
  return child;
}

// A child in a new PID namespace, where it is PID 1 of its own grandchild's namespace.
static pid_t nested_pidns_child(int ready_pipe) {
  pid_t child = fork();
  if (child == 0) {
    if (unshare(CLONE_NEWPID) != 0) _exit(40);
    pid_t inner = fork();  // PID 1 of the nested namespace
    if (inner == 0) {
      char ok = getpid() == 1 ? 'y' : 'n';
      if (write(ready_pipe, &ok, 1) != 1) _exit(41);
      pause();
      _exit(0);
    }
    int st;
    waitpid(inner, &st, 0);
    _exit(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 0 : 42);
  }
  return child;
}

static void check_exit(pid_t child, const char* what) {
  int st;
  if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    zdtm_fail("%s: status %x", what, st);
}

int main(int argc, char** argv) {
  zdtm_init();
  const char* kind = argc > 1 ? argv[1] : "";
  if (strcmp(kind, "seccomp") == 0) {
    use_seccomp();
    zdtm_ready();
    zdtm_wait();
    if (prctl(PR_GET_SECCOMP) != SECCOMP_MODE_FILTER) zdtm_fail("seccomp mode lost");
  } else if (strcmp(kind, "stopped") == 0) {
    pid_t child = stopped_child();
    zdtm_ready();
    zdtm_wait();
    if (kill(child, SIGCONT) != 0) zdtm_fail("SIGCONT");
    check_exit(child, "stopped child");
  } else if (strcmp(kind, "pidns") == 0) {
    int p[2];
    if (pipe(p) != 0) zdtm_fail("pipe");
    pid_t child = nested_pidns_child(p[1]);
    char ok = 0;
    if (read(p[0], &ok, 1) != 1 || ok != 'y') zdtm_fail("no nested PID namespace");
    zdtm_ready();
    zdtm_wait();
    // A nested init takes only SIGKILL (or signals it handles) from outside its namespace.
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", child, child);
    FILE* f = fopen(path, "r");
    int inner = 0;
    if (!f || fscanf(f, "%d", &inner) != 1) zdtm_fail("nested init not found");
    fclose(f);
    if (kill(inner, SIGKILL) != 0) zdtm_fail("kill nested init");
    check_exit(child, "nested namespace");
  } else {
    zdtm_fail("usage: zdtm_unsupported seccomp|stopped|pidns");
  }
  printf("PASS zdtm_unsupported %s\n", kind);
  return 0;
}
