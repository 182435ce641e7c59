// A capture that holds the session past its freeze limit is abandoned: it throws
// FreezeLimitExceeded, and every task comes back as it was (not traced, not stopped, running
// on once the group thaws), so the next capture of the same tree succeeds.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "base/Cgroup.h"
#include "base/Error.h"
#include "base/Files.h"
#include "kmod/Checkpoint.h"
#include "kmod/ProcFs.h"
#include "tests/kmod/TestContainer.h"

namespace deja::kmod {
namespace {

using test::read_or_empty;
using test::TestContainer;

TEST(FreezeLimitTest, AbandonedCaptureLeavesTheTreeRunning) {
  std::string work = "/tmp/deja-freeze-limit-test-" + std::to_string(::getpid());
  make_dirs(work);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { run_command({"rm", "-rf", dir}); }
  } cleanup{work};
  // Ten sleepers under a shell that counts into its work folder (builtins only: no process
  // comes or goes while it counts).
  std::string script = "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1000 & done; "
                       "i=0; while true; do i=$((i+1)); echo $i > " + work + "/ticks; done";
  TestContainer c("deja-freeze-limit-" + std::to_string(::getpid()), work, work, [&] {
    ::execl("/bin/sh", "sh", "-c", script.c_str(), nullptr);
    ::_exit(127);
  });
  Cgroup group = Cgroup::open(c.cgroup());
  for (int i = 0; i < 500 && group.procs().size() < 11; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(group.procs().size(), 11u);

  {
    FrozenCgroup frozen(group);
    CaptureOptions o{Crid{1}, Crid{}};
    // Frozen "two seconds ago" with a limit of one: over the limit at the first look.
    o.frozen_at = std::chrono::steady_clock::now() - std::chrono::seconds(2);
    o.freeze_limit = std::chrono::milliseconds(1000);
    try {
      capture_tree(c.pid(), c.cgroup(), o);
      FAIL() << "a capture past its freeze limit went on";
    } catch (const FreezeLimitExceeded& e) {
      EXPECT_NE(std::string(e.what()).find("limit of 1000 ms"), std::string::npos) << e.what();
    }
    for (pid_t p : group.procs())
      EXPECT_EQ(procfs::status(HostPid{p}).tracer_pid, 0) << "process " << p;
  }
  // The shell truncates the file before each write: a read may find it empty.
  auto count = [&] {
    std::string t;
    for (int i = 0; i < 5000 && (t = read_or_empty(work + "/ticks")).empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return t;
  };
  std::string ticks = count(), now = ticks;
  for (int i = 0; i < 500 && (now = count()) == ticks; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_NE(now, ticks) << "the session did not run on";

  FrozenCgroup frozen(group);
  TreeState tree = capture_tree(c.pid(), c.cgroup(), CaptureOptions{Crid{2}, Crid{}});
  EXPECT_EQ(tree.processes.size(), 11u);
}

}  // namespace
}  // namespace deja::kmod
