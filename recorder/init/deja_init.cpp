// deja-init: PID 1 of a session container. Optionally starts the session's X server and
// waits until it listens, then starts the session's command, reaps every process orphaned
// inside the session, and exits with the command's status once nothing but the server is
// left. It is small on purpose: it is checkpointed and revived with the session.
//
//   deja-init [--server-socket PATH --server PROG [ARG...] --] CMD [ARG...]
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace {

volatile sig_atomic_t g_stopping = 0;

// PID 1 gets no default signal actions: pass a stop request on to everyone else.
void forward_stop(int) {
  g_stopping = 1;
  ::kill(-1, SIGTERM);
}

pid_t spawn(char** argv, bool new_session) {
  pid_t pid = ::fork();
  if (pid < 0) {
    std::fprintf(stderr, "deja-init: fork: %s\n", std::strerror(errno));
    std::exit(1);
  }
  if (pid == 0) {
    if (new_session) ::setsid();
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGTERM, &dfl, nullptr);
    ::execvp(argv[0], argv);
    std::fprintf(stderr, "deja-init: %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  return pid;
}

// Waits until the server's socket exists; false if the server died or took too long.
bool wait_for_socket(pid_t server, const char* path) {
  for (int i = 0; i < 1500; ++i) {
    struct stat st;
    if (::stat(path, &st) == 0) return true;
    int status;
    if (::waitpid(server, &status, WNOHANG) == server) return false;
    timespec nap{0, 10'000'000};
    ::nanosleep(&nap, nullptr);
  }
  return false;
}

// True when no process but us and the server is left in the session.
bool only_server_left(pid_t server) {
  DIR* d = ::opendir("/proc");
  if (!d) return false;
  bool alone = true;
  while (dirent* e = ::readdir(d)) {
    char* end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    if (pid != 1 && pid != server) alone = false;
  }
  ::closedir(d);
  return alone;
}

}  // namespace

int main(int argc, char** argv) {
  int i = 1;
  const char* socket_path = nullptr;
  char** server_argv = nullptr;
  if (i + 1 < argc && std::strcmp(argv[i], "--server-socket") == 0) {
    socket_path = argv[i + 1];
    i += 2;
    if (i < argc && std::strcmp(argv[i], "--server") == 0) {
      server_argv = argv + i + 1;
      while (i < argc && std::strcmp(argv[i], "--") != 0) ++i;
      argv[i++] = nullptr;  // ends the server's argv
    }
  }
  if (i >= argc || (socket_path && !server_argv)) {
    std::fprintf(stderr,
                 "usage: deja-init [--server-socket PATH --server PROG [ARG...] --] CMD [ARG...]"
                 " (started by deja record)\n");
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = forward_stop;
  ::sigaction(SIGTERM, &sa, nullptr);

  pid_t server = -1;
  if (server_argv) {
    server = spawn(server_argv, true);
    if (!wait_for_socket(server, socket_path)) {
      std::fprintf(stderr, "deja-init: %s did not start listening on %s\n", server_argv[0],
                   socket_path);
      ::kill(server, SIGKILL);
      return 1;
    }
  }
  pid_t cmd = spawn(argv + i, true);
  int cmd_status = 0;
  bool cmd_done = false;
  for (;;) {
    int st = 0;
    pid_t p = ::waitpid(-1, &st, 0);
    if (p < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: the session is empty.
    }
    if (p == cmd) {
      cmd_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      cmd_done = true;
    }
    if (p == server) server = -1;
    // The server serves the session's programs; once they are all gone, so is it.
    if (cmd_done && server > 0 && only_server_left(server)) ::kill(server, SIGTERM);
  }
  // For a recorder that adopted the session after its first one died: it is not our parent
  // and cannot learn our status otherwise.
  if (FILE* f = std::fopen("/run/deja/exit-status", "we")) {
    std::fprintf(f, "%d\n", cmd_status);
    std::fclose(f);
  }
  return cmd_status;
}
