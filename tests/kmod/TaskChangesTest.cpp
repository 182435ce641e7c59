// The capture takes a process's answers to its injected queries (signal handlers, brk,
// prctl flags, timers, alternate stacks) from the last capture only when the kernel saw it
// make no system call that changes them since (TaskChanges in ProcessChanges.h): a handler
// installed between two captures is in the second image, and a quiet process is not asked
// again.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "kmod/Checkpoint.h"
#include "kmod/PageTracking.h"
#include "kmod/ProcFs.h"
#include "kmod/ProcessChanges.h"
#include "tests/kmod/PythonProgramTest.h"

namespace deja::kmod {
namespace {

// Sleeps in pause(); SIGUSR1 installs a handler for SIGUSR2 and writes "handled".
constexpr const char* kProgram = R"(
import signal, sys
work = sys.argv[1]
def install(sig, frame):
    signal.signal(signal.SIGUSR2, lambda s, f: None)
    open(work + "/handled", "w").write("1")
signal.signal(signal.SIGUSR1, install)
open(work + "/ready", "w").write("1")
while True:
    signal.pause()
)";

class TaskChangesTest : public test::PythonProgramTest {
 protected:
  TaskChangesTest() : PythonProgramTest("deja-taskchanges", kProgram) {}
  void install_handler() {
    ASSERT_EQ(::kill(pid().value, SIGUSR1), 0);
    ASSERT_TRUE(program_.wait_for("handled")) << "the program never installed its handler";
  }
  HostPid pid() const { return program_.pid(); }
  TreeState checkpoint(
      Crid crid, const std::function<void()>& ahead = [] {}) {
    return program_.checkpoint(tracking_, crid, ahead);
  }
  ProcessTracking& tracked() { return tracking_.process(pid(), procfs::stat(pid()).start_time); }
  bool handles_sigusr2(const TreeState& tree) {
    for (const ProcessState& p : tree.processes)
      if (p.host_pid == pid())
        for (const SigactionState& s : p.sigactions)
          if (s.sig == SIGUSR2 && s.handler > 1) return true;
    return false;
  }

  PageTracking tracking_;
};

TEST_F(TaskChangesTest, NamesOnlyTheProcessesThatMadeSuchACall) {
  TaskChanges changes(program_.cgroup());
  expect_named_only_after(changes, "an rt_sigaction", [&] { install_handler(); });
}

TEST_F(TaskChangesTest, AHandlerInstalledBetweenCapturesIsInTheNextImage) {
  tracking_.watch_tasks(program_.cgroup());
  checkpoint(Crid{1});
  TreeState quiet = checkpoint(Crid{2});
  EXPECT_TRUE(tracked().answers_unchanged) << "asked again though it made no such call";
  EXPECT_FALSE(handles_sigusr2(quiet));
  install_handler();
  TreeState changed = checkpoint(Crid{3});
  EXPECT_FALSE(tracked().answers_unchanged);
  EXPECT_TRUE(handles_sigusr2(changed)) << "the handler installed since is not in the image";
  TreeState after = checkpoint(Crid{4});
  EXPECT_TRUE(tracked().answers_unchanged);
  EXPECT_TRUE(handles_sigusr2(after)) << "the answers kept are not the newest";
}

}  // namespace
}  // namespace deja::kmod
