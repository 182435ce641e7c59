// What a recorder's captures keep from one to the next (CaptureCaches): a mount namespace's
// table is read again once a mount changes, and not before; a mapped file's stat is taken
// afresh by each capture, through the handle opened for it between captures.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <string>

#include "base/Files.h"
#include "kmod/ProcFs.h"
#include "kmod/objects/Context.h"
#include "tests/kmod/PythonProgramTest.h"

namespace deja::kmod {
namespace {

// SIGUSR1 mounts a tmpfs in its work folder; SIGUSR2 grows the file it maps.
constexpr const char* kProgram = R"(
import ctypes, mmap, os, signal, sys
work = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
data = open(work + "/data", "w+b")
data.write(b"x" * 4096)
data.flush()
mapped = mmap.mmap(data.fileno(), 4096)
def mount(sig, frame):
    os.mkdir(work + "/m")
    if libc.mount(b"none", (work + "/m").encode(), b"tmpfs", 0, None) != 0:
        raise OSError(ctypes.get_errno(), "mount")
    open(work + "/mounted", "w").write("1")
def grow(sig, frame):
    data.write(b"y" * 4096)
    data.flush()
    open(work + "/grown", "w").write("1")
signal.signal(signal.SIGUSR1, mount)
signal.signal(signal.SIGUSR2, grow)
open(work + "/ready", "w").write("1")
while True:
    signal.pause()
)";

class CaptureCachesTest : public test::PythonProgramTest {
 protected:
  CaptureCachesTest() : PythonProgramTest("deja-captcaches", kProgram) {}
  void signal_and_wait(int sig, const std::string& file) {
    ASSERT_EQ(::kill(program_.pid().value, sig), 0);
    ASSERT_TRUE(program_.wait_for(file)) << "the program never wrote " << file;
  }
  // The program's mapping of its data file, as maps lists it.
  procfs::MapsEntry data_mapping() {
    for (const procfs::MapsEntry& m : procfs::maps(program_.pid()))
      if (m.path.ends_with("/data")) return m;
    ADD_FAILURE() << "the program maps no data file";
    return {};
  }
};

TEST_F(CaptureCachesTest, AMountTableIsReadAgainOnlyOnceAMountChanged) {
  CaptureCaches caches;
  caches.next_capture();
  auto first = caches.mount_types.get(program_.pid());
  caches.next_capture();
  EXPECT_EQ(caches.mount_types.get(program_.pid()), first) << "read again with no change";
  size_t before = first->by_id.size();
  signal_and_wait(SIGUSR1, "mounted");
  caches.next_capture();
  auto after = caches.mount_types.get(program_.pid());
  EXPECT_NE(after, first) << "a new mount went unseen";
  EXPECT_EQ(after->by_id.size(), before + 1);
}

TEST_F(CaptureCachesTest, EachCaptureStatsAMappedFileAfresh) {
  CaptureCaches caches;
  procfs::MapsEntry m = data_mapping();
  caches.next_capture();
  EXPECT_EQ(caches.mapped_files.get(program_.pid(), m).st_size, 4096);
  caches.mapped_files.open_new_files();  // as the recorder does before each freeze
  signal_and_wait(SIGUSR2, "grown");
  EXPECT_EQ(caches.mapped_files.get(program_.pid(), m).st_size, 4096) << "within one capture";
  caches.next_capture();
  EXPECT_EQ(caches.mapped_files.get(program_.pid(), m).st_size, 8192) << "a stale stat";
}

}  // namespace
}  // namespace deja::kmod
