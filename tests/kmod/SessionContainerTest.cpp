// The engine inside the recorder's real session container (pivot_root into a read-only view
// of the host, the session's own /tmp, /run and home, private /proc, devpts, network and UTS
// namespaces) with deja-init as PID 1: checkpoint a running shell loop, revive it into a
// second container built the same way, and require both to finish with the same log.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "base/Error.h"
#include "base/Files.h"
#include "base/ScopedFd.h"
#include "kmod/Checkpoint.h"
#include "base/Cgroup.h"
#include "kmod/Restore.h"
#include "kmod/TreeCodec.h"
#include "recorder/Container.h"

namespace deja::kmod {
namespace {

// One session's files, cgroup and container; everything is killed and removed at the end.
class Session {
 public:
  Session(const std::string& base, const std::string& name) : base_(base) {
    files_ = base + "/" + name;
    recorder::prepare_session_files(files_);
    make_dirs(base + "/store");
    cgroup_ =
        cgroup2_mount() + "/deja-kmod-session-test-" + std::to_string(::getpid()) + "-" + name;
    if (::mkdir(cgroup_.c_str(), 0755) < 0) throw_errno("mkdir", cgroup_);
    cgroup_fd_.reset(::open(cgroup_.c_str(), O_DIRECTORY | O_CLOEXEC));
  }
  ~Session() {
    try {
      write_file(cgroup_ + "/cgroup.freeze", "0");
      write_file(cgroup_ + "/cgroup.kill", "1");
    } catch (const Error&) {
    }
    if (pid_ > 0 && !reaped_) ::waitpid(pid_, nullptr, 0);
    for (int i = 0; i < 200 && ::rmdir(cgroup_.c_str()) < 0 && errno == EBUSY; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  void start(const std::function<void(int)>& payload) {
    recorder::ContainerSpec spec;
    spec.files = files_;
    spec.home = "/home/user";
    spec.hostname = "deja-kmod-test";
    spec.store_dir = base_ + "/store";
    spec.cgroup_fd = cgroup_fd_.get();
    recorder::ContainerInit init = recorder::start_container(spec, payload);
    pid_ = init.pid;
  }
  int wait() {
    int status = -1;
    for (int i = 0; i < 3000; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

  const std::string& files() const { return files_; }
  const std::string& cgroup() const { return cgroup_; }
  HostPid pid() const { return HostPid{pid_}; }

 private:
  std::string base_, files_, cgroup_;
  ScopedFd cgroup_fd_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

TEST(SessionContainerTest, ReviveShellLoopUnderDejaInit) {
  std::string base = "/tmp/deja-kmod-session-test-" + std::to_string(::getpid());
  make_dirs(base);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { run_command({"rm", "-rf", dir}); }
  } cleanup{base};
  std::string init_exe = exe_dir() + "/deja-init";
  ASSERT_TRUE(path_exists(init_exe)) << init_exe;

  Session orig(base, "orig");
  orig.start([&](int) {
    int log = ::open("/run/deja/session.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::close_range(3, ~0u, 0);
    ::execl(init_exe.c_str(), "deja-init", "sh", "-c",
            "i=0; while [ $i -lt 6 ]; do sleep 0.25; i=$((i+1)); echo tick $i; done; "
            "echo $(hostname) > /tmp/done",
            nullptr);
    ::_exit(127);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(600));

  TreeState tree;
  {
    Cgroup group = Cgroup::open(orig.cgroup());
    FrozenCgroup frozen(group);
    tree = capture_tree(orig.pid(), orig.cgroup(), CaptureOptions{Crid{1}, Crid{}});
    // Stands in for the btrfs snapshot of the session's subvolume.
    auto cp = run_command({"cp", "-a", orig.files() + "/.", base + "/revived/"});
    ASSERT_EQ(cp.status, 0) << cp.output;
  }
  ASSERT_GE(tree.processes.size(), 2u);
  EXPECT_EQ(tree.processes[0].pid.value, 1);
  EXPECT_EQ(tree.processes[0].cwd, "/home/user");
  std::string image = base + "/image.dimg";
  write_image(tree, image);
  TreeState back = read_tree_image_file(image);

  Session revived(base, "revived");
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  ScopedFd report_r(report[0]), report_w(report[1]);
  revived.start([&](int error_fd) {
    // start_container waits for its error pipe to close; the skeleton never execs.
    ::close(error_fd);
    report_r.reset();
    run_skeleton(back, report_w.get());
  });
  report_w.reset();
  fill_skeleton(back, revived.pid(), report_r.get());

  int so = orig.wait(), sr = revived.wait();
  std::string orig_log = read_file(orig.files() + "/run/deja/session.log");
  std::string revived_log = read_file(revived.files() + "/run/deja/session.log");
  EXPECT_TRUE(WIFEXITED(so) && WEXITSTATUS(so) == 0) << so << "\n" << orig_log;
  EXPECT_TRUE(WIFEXITED(sr) && WEXITSTATUS(sr) == 0) << sr << "\n" << revived_log;
  EXPECT_NE(orig_log.find("tick 6"), std::string::npos) << orig_log;
  EXPECT_EQ(orig_log, revived_log);
  // The revived shell ran in its own container: its /tmp is the revived session's.
  EXPECT_EQ(read_file(revived.files() + "/tmp/done"), "deja-kmod-test\n");
}

}  // namespace
}  // namespace deja::kmod
