// deja-init: PID 1 of a session container. Starts the session's command, reaps every
// process orphaned inside the session, and exits with the command's status once no process
// is left. It is small on purpose: it is checkpointed and revived with the session.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace {

volatile sig_atomic_t g_stopping = 0;

// PID 1 gets no default signal actions: pass a stop request on to everyone else.
void forward_stop(int) {
  g_stopping = 1;
  ::kill(-1, SIGTERM);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: deja-init CMD [ARG...] (started by deja record)\n");
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = forward_stop;
  ::sigaction(SIGTERM, &sa, nullptr);

  pid_t cmd = ::fork();
  if (cmd < 0) {
    std::fprintf(stderr, "deja-init: fork: %s\n", std::strerror(errno));
    return 1;
  }
  if (cmd == 0) {
    ::setsid();
    sa.sa_handler = SIG_DFL;
    ::sigaction(SIGTERM, &sa, nullptr);
    ::execvp(argv[1], argv + 1);
    std::fprintf(stderr, "deja-init: %s: %s\n", argv[1], std::strerror(errno));
    ::_exit(127);
  }
  int cmd_status = 0;
  for (;;) {
    int st = 0;
    pid_t p = ::waitpid(-1, &st, 0);
    if (p < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: the session is empty.
    }
    if (p == cmd) cmd_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  return cmd_status;
}
