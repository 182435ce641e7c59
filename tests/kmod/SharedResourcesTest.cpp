// Processes that share an fd table (clone without CLONE_THREAD) are refused by the capture,
// also when the recorder checked the session before they came to share it: the check while
// the session runs (unshared_processes) only spares the processes it saw.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "base/Cgroup.h"
#include "kmod/Checkpoint.h"
#include "tests/kmod/PythonProgramTest.h"

namespace deja::kmod {
namespace {

// SIGUSR1: a raw clone(CLONE_FILES) makes a child process sharing this one's fd table.
constexpr const char* kProgram = R"(
import ctypes, signal, sys
work = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
CLONE_FILES, SYS_clone = 0x400, 56
def share(sig, frame):
    if libc.syscall(SYS_clone, CLONE_FILES | signal.SIGCHLD, 0, 0, 0, 0) == 0:
        while True:
            signal.pause()
    open(work + "/cloned", "w").write("1")
signal.signal(signal.SIGUSR1, share)
open(work + "/ready", "w").write("1")
while True:
    signal.pause()
)";

class SharedResourcesTest : public test::PythonProgramTest {
 protected:
  SharedResourcesTest() : PythonProgramTest("deja-shared", kProgram) {}
  std::vector<HostPid> processes() {
    std::vector<HostPid> out;
    for (pid_t p : Cgroup::open(program_.cgroup()).procs()) out.push_back(HostPid{p});
    return out;
  }
  // A capture given what unshared_processes() found before.
  void capture(const UnsharedProcesses& unshared) {
    Cgroup group = Cgroup::open(program_.cgroup());
    FrozenCgroup freeze(group);
    CaptureOptions options{Crid{1}, Crid{}};
    options.unshared = &unshared;
    capture_tree(program_.pid(), program_.cgroup(), options);
  }
};

TEST_F(SharedResourcesTest, ProcessesCheckedAheadAreCapturedWithoutSharing) {
  UnsharedProcesses unshared = unshared_processes(processes());
  ASSERT_EQ(unshared.size(), 1u);
  EXPECT_NO_THROW(capture(unshared));
}

TEST_F(SharedResourcesTest, AProcessThatCameToShareAfterTheCheckIsRefused) {
  UnsharedProcesses unshared = unshared_processes(processes());
  ASSERT_EQ(::kill(program_.pid().value, SIGUSR1), 0);
  ASSERT_TRUE(program_.wait_for("cloned"));
  try {
    capture(unshared);
    FAIL() << "a shared fd table went unnoticed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("share their fd table"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(unshared_processes(processes()).empty()) << "the check while running missed it";
}

}  // namespace
}  // namespace deja::kmod
