// The engine inside the recorder's real session container (pivot_root into a read-only view
// of the host, the session's own /tmp, /run and home, private /proc, devpts, network and UTS
// namespaces) with deja-init as PID 1: checkpoint a running shell loop, revive it into a
// second container built the same way, and require both to finish with the same log.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "base/Cgroup.h"
#include "base/Error.h"
#include "base/Files.h"
#include "base/ScopedFd.h"
#include "kmod/Checkpoint.h"
#include "kmod/Restore.h"
#include "kmod/TreeCodec.h"
#include "recorder/Container.h"
#include "snapshot/Store.h"
#include "snapshot/Subvolume.h"

namespace deja::kmod {
namespace {

// One session's files, cgroup and container; everything is killed and removed at the end.
class Session {
 public:
  // `files` is made by the caller: a new subvolume, or a snapshot of another session's.
  Session(const snapshot::Store& store, const std::string& name) : store_(store) {
    files_ = store.session_subvolume(name);
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

  // `confine`: as deja record does; a revive's skeleton runs unconfined (Container.h).
  void start(const std::function<void(int)>& payload, bool confine = true) {
    recorder::ContainerSpec spec;
    spec.files = files_;
    spec.home = "/home/user";
    spec.hostname = "deja-kmod-test";
    spec.store_dir = store_.dir();
    spec.store_root = store_.root();
    spec.store_loop_backed = store_.loop_backed();
    spec.cgroup_fd = cgroup_fd_.get();
    spec.confine = confine;
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
  const snapshot::Store& store_;
  std::string files_, cgroup_;
  ScopedFd cgroup_fd_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

TEST(SessionContainerTest, ReviveShellLoopUnderDejaInit) {
  std::string base = "/tmp/deja-kmod-session-test-" + std::to_string(::getpid());
  make_dirs(base);
  // A real store: the revived session's files are a btrfs snapshot of the original's, as
  // in `deja revive`, so files the processes map keep their inode and times.
  snapshot::Store store = snapshot::Store::open(base + "/store", 1ull << 30);
  struct Cleanup {
    std::string dir, mount;
    ~Cleanup() {
      if (!mount.empty()) ::umount2(mount.c_str(), MNT_DETACH);
      run_command({"rm", "-rf", dir});
    }
  } cleanup{base, store.loop_backed() ? store.root() : ""};
  std::string init_exe = exe_dir() + "/deja-init";
  ASSERT_TRUE(path_exists(init_exe)) << init_exe;

  Session orig(store, "orig");
  snapshot::create_subvolume(orig.files());
  recorder::prepare_session_files(orig.files());
  // As the recorder does: the session runs its own copy of deja-init (the build folder may
  // be under /tmp, which inside the container is the session's own /tmp).
  write_file(orig.files() + "/run/deja/deja-init", read_file(init_exe));
  ASSERT_EQ(::chmod((orig.files() + "/run/deja/deja-init").c_str(), 0755), 0);
  orig.start([&](int) {
    int log = ::open("/run/deja/session.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::close_range(3, ~0u, 0);
    ::execl("/run/deja/deja-init", "deja-init", "sh", "-c",
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
    snapshot::snapshot_subvolume(orig.files(), store.session_subvolume("revived"),
                                 /*read_only=*/false);
  }
  ASSERT_GE(tree.processes.size(), 2u);
  EXPECT_EQ(tree.processes[0].pid.value, 1);
  EXPECT_EQ(tree.processes[0].cwd, "/home/user");
  std::string image = base + "/image.dimg";
  write_image(tree, image);
  TreeState back = read_tree_image_file(image);

  Session revived(store, "revived");
  ScopedFd skeleton = open_skeleton_program();
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  ScopedFd report_r(report[0]), report_w(report[1]);
  revived.start(
      [&](int error_fd) {
        // start_container waits for its error pipe to close.
        ::close(error_fd);
        report_r.reset();
        run_skeleton(back, report_w.get(), skeleton.get());
      },
      /*confine=*/false);
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
