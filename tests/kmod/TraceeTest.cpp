// A held task (kmod/inject/Tracee.h) that dies while held must not stay a zombie that only
// the engine could reap: its real parent, a session's init or `deja stop`, would wait for
// it for ever.
#include "kmod/inject/Tracee.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace deja::kmod {
namespace {

char state_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() ? '?' : line[paren + 2];
}

TEST(Tracee, ATaskKilledWhileHeldIsLeftForItsParentToReap) {
  int channel[2];
  ASSERT_EQ(::pipe(channel), 0);
  pid_t parent = ::fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {
    // The task's real parent: exits 0 once it has reaped the task, killed.
    pid_t task = ::fork();
    if (task == 0) {
      ::pause();
      ::_exit(3);
    }
    if (::write(channel[1], &task, sizeof task) != sizeof task) ::_exit(2);
    int status = 0;
    ::_exit(::waitpid(task, &status, 0) == task && WIFSIGNALED(status) ? 0 : 1);
  }
  pid_t task = 0;
  ASSERT_EQ(::read(channel[0], &task, sizeof task), static_cast<ssize_t>(sizeof task));
  ::close(channel[0]);
  ::close(channel[1]);
  {
    Tracee held(HostPid{task});
    ASSERT_EQ(::kill(task, SIGKILL), 0);
    for (int i = 0; i < 1000 && state_of(task) != 'Z'; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(state_of(task), 'Z') << "the held task did not die";
  }
  int status = 0;
  bool reaped = false;
  for (int i = 0; i < 300 && !reaped; ++i) {
    reaped = ::waitpid(parent, &status, WNOHANG) == parent;
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!reaped) {
    ::kill(parent, SIGKILL);
    ::waitpid(parent, &status, 0);
    int ignored;
    ::waitpid(task, &ignored, __WALL);  // ours as its tracer, now that nobody else waits
  }
  ASSERT_TRUE(reaped) << "the parent could not reap the task the engine had held";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

}  // namespace
}  // namespace deja::kmod
