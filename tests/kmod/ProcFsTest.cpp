// The typed readers of /proc (kmod/ProcFs.h), checked against what this test process knows
// of itself.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <future>
#include <string>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "kmod/ProcFs.h"

namespace deja::kmod {
namespace {

TEST(ProcFsTest, StatusHasThisProcessesIdsSignalsAndMask) {
  mode_t old_mask = ::umask(027);
  struct sigaction caught {
  }, ignored{}, old_caught{}, old_ignored{};
  caught.sa_handler = [](int) {};
  ignored.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGUSR2, &caught, &old_caught), 0);
  ASSERT_EQ(::sigaction(SIGURG, &ignored, &old_ignored), 0);
  procfs::Status st = procfs::status(HostPid{::getpid()});
  ::umask(old_mask);
  ::sigaction(SIGUSR2, &old_caught, nullptr);
  ::sigaction(SIGURG, &old_ignored, nullptr);

  EXPECT_EQ(st.name, procfs::stat(HostPid{::getpid()}).comm);
  EXPECT_EQ(st.ppid, ::getppid());
  EXPECT_EQ(st.ns_pid, ::getpid());
  EXPECT_EQ(st.ns_pgid, ::getpgrp());
  EXPECT_EQ(st.ns_sid, ::getsid(0));
  EXPECT_GE(st.pid_namespaces, 1u);
  EXPECT_EQ(st.uid[0], ::getuid());
  EXPECT_EQ(st.uid[1], ::geteuid());
  EXPECT_EQ(st.gid[0], ::getgid());
  EXPECT_EQ(st.umask, 027u);
  EXPECT_TRUE(st.sig_caught & (1ull << (SIGUSR2 - 1)));
  EXPECT_TRUE(st.sig_ignored & (1ull << (SIGURG - 1)));
  EXPECT_FALSE(st.sig_caught & (1ull << (SIGURG - 1)));
  EXPECT_EQ(st.seccomp, 0);
  EXPECT_GT(st.rss_anon_kib, 0u);
  for (const std::string& set : st.capabilities) EXPECT_EQ(set.size(), 16u) << set;
}

TEST(ProcFsTest, TaskStatusNamesTheThread) {
  auto tid =
      std::async(std::launch::async, [] {
        pid_t self = ::gettid();
        return std::pair{self, procfs::task_status(HostPid{::getpid()}, HostPid{self}).ns_pid};
      }).get();
  EXPECT_EQ(tid.second, tid.first);
}

TEST(ProcFsTest, FdInfoHasPositionAndFlags) {
  char path[] = "/tmp/deja-procfs-XXXXXX";
  ScopedFd fd(::mkstemp(path));
  ASSERT_TRUE(fd);
  ::unlink(path);
  ASSERT_EQ(::write(fd.get(), "hello", 5), 5);
  ASSERT_EQ(::fcntl(fd.get(), F_SETFL, O_APPEND), 0);
  procfs::FdInfo info = procfs::fdinfo(HostPid{::getpid()}, fd.get());
  EXPECT_EQ(info.pos, 5u);
  EXPECT_TRUE(info.flags & O_APPEND);
  EXPECT_EQ(procfs::field(info.text, "pos:"), "5");
  EXPECT_EQ(procfs::field(info.text, "nothing:"), "");
}

TEST(ProcFsTest, StatusOfAProcessThatIsGoneNamesTheFile) {
  try {
    procfs::status(HostPid{0x3fffffff});
    FAIL() << "read the status of a process that cannot exist";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/1073741823/status"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace deja::kmod
