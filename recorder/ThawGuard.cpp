#include "recorder/ThawGuard.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/Error.h"

namespace deja::recorder {

namespace {

// Runs in the watcher: only async-signal-safe calls, since the recorder may hold locks.
[[noreturn]] void watch(int recorder_pidfd, const char* freeze_file) {
  for (;;) {
    pollfd p{recorder_pidfd, POLLIN, 0};
    if (::poll(&p, 1, -1) > 0) break;
  }
  int fd = ::open(freeze_file, O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t ignored = ::write(fd, "0", 1);
    (void)ignored;
    ::close(fd);
  }
  ::_exit(0);
}

}  // namespace

ThawGuard::ThawGuard(const std::string& cgroup_path) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0));
  if (pidfd < 0) throw_errno("pidfd_open", "recorder");
  std::string freeze_file = cgroup_path + "/cgroup.freeze";
  pid_ = ::fork();
  if (pid_ < 0) {
    int err = errno;
    ::close(pidfd);
    throw_errno("fork", "thaw guard", err);
  }
  if (pid_ == 0) {
    // Its own process group: a terminal's Ctrl-C to the recorder must not take the guard too.
    ::setpgid(0, 0);
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGTERM, SIG_IGN);
    for (int fd = 0; fd < 1024; ++fd)
      if (fd != pidfd) ::close(fd);
    watch(pidfd, freeze_file.c_str());
  }
  ::close(pidfd);
}

}  // namespace deja::recorder
