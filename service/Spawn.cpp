#include "service/Spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "base/Error.h"

namespace deja::service {

pid_t spawn_in_own_session(std::vector<std::string> argv, int out, int err) {
  std::vector<char*> words;
  for (auto& w : argv) words.push_back(w.data());
  words.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", argv[0]);
  if (pid > 0) return pid;
  ::setsid();
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  int in = ::open("/dev/null", O_RDONLY);
  if (in < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(127);
  ::execv(words[0], words.data());
  ::_exit(127);
}

}  // namespace deja::service
