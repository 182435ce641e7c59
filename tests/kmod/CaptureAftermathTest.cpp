// What a capture leaves behind in a running program. A signal sent while the session is
// frozen is handled once it thaws, as if no capture had happened (a restart of the interrupted
// syscall by hand once made pause() sleep through it). A madvise of a whole mapping between
// the recorder's read of smaps ahead of the freeze and the freeze drops the checkpoint
// (PageTracking::verify_flags). So does one after the last checkpoint's read after its thaw,
// which serves the next checkpoint while the mappings stay the same; only that checkpoint.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/Cgroup.h"
#include "base/Error.h"
#include "base/Files.h"
#include "kmod/Checkpoint.h"
#include "kmod/PageTracking.h"
#include "tests/kmod/PythonProgramTest.h"

namespace deja::kmod {
namespace {

// Sleeps in pause(); SIGUSR1 marks a read-only anonymous mapping (no neighbour merges with
// it) MADV_DONTFORK as a whole. "ready" and "done" files say where the program is.
constexpr const char* kProgram = R"(
import mmap, signal, sys
work = sys.argv[1]
m = mmap.mmap(-1, 1 << 20, prot=mmap.PROT_READ)
def mark(sig, frame):
    m.madvise(mmap.MADV_DONTFORK)
    open(work + "/done", "w").write("1")
signal.signal(signal.SIGUSR1, mark)
open(work + "/ready", "w").write("1")
while True:
    signal.pause()
)";

class CaptureAftermathTest : public test::PythonProgramTest {
 protected:
  CaptureAftermathTest() : PythonProgramTest("deja-aftermath", kProgram) {}
  void wait_for(const std::string& file) {
    ASSERT_TRUE(program_.wait_for(file)) << "the program never wrote " << file;
  }
  void signal_program() { ASSERT_EQ(::kill(program_.pid().value, SIGUSR1), 0); }
  void checkpoint(PageTracking& tracking, Crid crid, const std::function<void()>& ahead,
                  const std::function<void()>& frozen) {
    program_.checkpoint(tracking, crid, ahead, frozen);
  }
};

TEST_F(CaptureAftermathTest, SignalSentDuringTheFreezeIsHandledAfterIt) {
  PageTracking tracking;
  checkpoint(tracking, Crid{1}, [] {}, [&] { signal_program(); });
  wait_for("done");
}

TEST_F(CaptureAftermathTest, MadviseBetweenTheReadAndTheFreezeDropsTheCheckpoint) {
  PageTracking tracking;
  checkpoint(tracking, Crid{1}, [] {}, [] {});
  tracking.verify_flags();  // nothing changed
  checkpoint(tracking, Crid{2}, [&] {
    signal_program();
    wait_for("done");
  }, [] {});
  try {
    tracking.verify_flags();
    FAIL() << "a VmFlags change between the read and the freeze went unnoticed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("changed from"), std::string::npos) << e.what();
  }
}

TEST_F(CaptureAftermathTest, MadviseSinceTheLastCheckpointDropsOnlyTheNextOne) {
  PageTracking tracking;
  checkpoint(tracking, Crid{1}, [] {}, [] {});
  tracking.verify_flags();
  signal_program();
  wait_for("done");
  checkpoint(tracking, Crid{2}, [] {}, [] {});
  try {
    tracking.verify_flags();
    FAIL() << "flags read after the last thaw were used though they changed since";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("changed from"), std::string::npos) << e.what();
  }
  // From then on that process's flags are read just before each freeze again.
  checkpoint(tracking, Crid{3}, [] {}, [] {});
  EXPECT_NO_THROW(tracking.verify_flags());
}

}  // namespace
}  // namespace deja::kmod
