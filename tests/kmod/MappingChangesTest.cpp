// The capture takes a process's mappings as read before the freeze only when the kernel saw
// it change none since (MappingChanges.h): a mapping made between that read and the freeze is
// in the image, and a process that made none is not read again.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include "base/Cgroup.h"
#include "base/Files.h"
#include "kmod/Checkpoint.h"
#include "kmod/PageTracking.h"
#include "kmod/ProcFs.h"
#include "kmod/ProcessChanges.h"
#include "tests/kmod/PythonProgramTest.h"

namespace deja::kmod {
namespace {

// Sleeps in pause(); SIGUSR1 maps 1 MiB more, writes to it and puts its address in "addr".
constexpr const char* kProgram = R"(
import ctypes, mmap, signal, sys
work = sys.argv[1]
kept = []
def grow(sig, frame):
    m = mmap.mmap(-1, 1 << 20)
    m[0:5] = b"hello"
    kept.append(m)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    open(work + "/addr", "w").write(str(addr))
signal.signal(signal.SIGUSR1, grow)
open(work + "/ready", "w").write("1")
while True:
    signal.pause()
)";

class MappingChangesTest : public test::PythonProgramTest {
 protected:
  MappingChangesTest() : PythonProgramTest("deja-mapchanges", kProgram) {}
  // Has the program map 1 MiB more; its address.
  uint64_t grow() {
    EXPECT_EQ(::kill(pid().value, SIGUSR1), 0);
    EXPECT_TRUE(program_.wait_for("addr")) << "the program never mapped more";
    return std::strtoull(program_.read("addr").c_str(), nullptr, 10);
  }
  HostPid pid() const { return program_.pid(); }
  TreeState checkpoint(Crid crid, const std::function<void()>& ahead) {
    return program_.checkpoint(tracking_, crid, ahead);
  }
  ProcessTracking& tracked() { return tracking_.process(pid(), procfs::stat(pid()).start_time); }
  static bool maps(const TreeState& tree, HostPid pid, uint64_t addr) {
    for (const ProcessState& p : tree.processes)
      if (p.host_pid == pid)
        for (const Vma& v : p.vmas)
          if (v.start <= addr && addr < v.end) return true;
    return false;
  }

  PageTracking tracking_;
};

TEST_F(MappingChangesTest, NamesOnlyTheProcessesThatChangedTheirMappings) {
  MappingChanges changes(program_.cgroup());
  expect_named_only_after(changes, "an mmap", [&] { grow(); });
}

TEST_F(MappingChangesTest, AMappingMadeAfterTheReadAheadIsCaptured) {
  tracking_.watch_mappings(program_.cgroup());
  // The first capture arms the process (the engine's pages, its dirty tracker).
  checkpoint(Crid{1}, [] {});
  TreeState quiet = checkpoint(Crid{2}, [] {});
  EXPECT_TRUE(tracked().maps_unchanged) << "mappings were read again though none changed";
  uint64_t addr = 0;
  TreeState grown = checkpoint(Crid{3}, [&] { addr = grow(); });
  EXPECT_FALSE(tracked().maps_unchanged);
  EXPECT_TRUE(maps(grown, pid(), addr)) << "the mapping at " << addr << " is not in the image";
  EXPECT_FALSE(maps(quiet, pid(), addr));
}

}  // namespace
}  // namespace deja::kmod
