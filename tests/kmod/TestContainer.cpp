#include "tests/kmod/TestContainer.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "base/Error.h"
#include "base/Files.h"
#include "base/Cgroup.h"
#include "kmod/Checkpoint.h"
#include "kmod/KernelCompat.h"

namespace deja::kmod::test {

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "container setup: %s: %s\n", what, std::strerror(errno));
  ::_exit(127);
}

}  // namespace

TestContainer::TestContainer(const std::string& name, const std::string& work_source,
                             const std::string& work_dir, const std::function<void()>& body) {
  cgroup_ = cgroup2_mount() + "/" + name;
  if (::mkdir(cgroup_.c_str(), 0755) < 0 && errno != EEXIST) throw_errno("mkdir", cgroup_);
  int sync[2];
  if (::pipe2(sync, O_CLOEXEC) < 0) throw_errno("pipe2", "container sync");
  compat::CloneArgs args{};
  args.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC;
  args.exit_signal = SIGCHLD;
  long r = ::syscall(SYS_clone3, &args, sizeof args);
  if (r < 0) throw_errno("clone3", "container " + name);
  if (r == 0) {
    ::close(sync[1]);
    // If the test process dies (a timeout kill), PID 1 and with it the whole namespace go too.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    char c;
    if (::read(sync[0], &c, 1) != 1) ::_exit(126);  // the parent gave up
    ::close(sync[0]);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) die("make / private");
    if (::mount(work_source.c_str(), work_dir.c_str(), nullptr, MS_BIND, nullptr) < 0)
      die("bind the work folder");
    if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0)
      die("mount /proc");
    // Its own terminals, as a session has: a devpts instance with /dev/ptmx pointing into it.
    if (::mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620") < 0)
      die("mount devpts");
    if (::mount("/dev/pts/ptmx", "/dev/ptmx", nullptr, MS_BIND, nullptr) < 0) die("bind /dev/ptmx");
    body();
    ::_exit(125);
  }
  pid_ = HostPid{static_cast<pid_t>(r)};
  ::close(sync[0]);
  try {
    write_file(cgroup_ + "/cgroup.procs", std::to_string(pid_.value));
  } catch (...) {
    ::close(sync[1]);
    ::waitpid(pid_.value, nullptr, 0);
    reaped_ = true;
    throw;
  }
  char go = 'g';
  ssize_t n = ::write(sync[1], &go, 1);
  (void)n;
  ::close(sync[1]);
}

std::optional<int> TestContainer::wait(double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    int status;
    pid_t r = ::waitpid(pid_.value, &status, WNOHANG);
    if (r == pid_.value) {
      reaped_ = true;
      return status;
    }
    if (r < 0) throw_errno("waitpid", "container init");
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

TestContainer::~TestContainer() {
  try {
    write_file(cgroup_ + "/cgroup.freeze", "0");
    write_file(cgroup_ + "/cgroup.kill", "1");
  } catch (const Error&) {
  }
  if (!reaped_) ::waitpid(pid_.value, nullptr, 0);
  // The group empties asynchronously after the kill.
  for (int i = 0; i < 200 && ::rmdir(cgroup_.c_str()) < 0 && errno == EBUSY; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

PythonInContainer::PythonInContainer(const std::string& name, const char* program)
    : work_("/tmp/" + name + "-" + std::to_string(::getpid())) {
  make_dirs(work_);
  container_ = std::make_unique<TestContainer>(name + "-" + std::to_string(::getpid()), work_,
                                               work_, [&] {
                                                 ::execl("/usr/bin/python3", "python3", "-c",
                                                         program, work_.c_str(), nullptr);
                                                 ::_exit(127);
                                               });
}

PythonInContainer::~PythonInContainer() {
  container_.reset();
  run_command({"rm", "-rf", work_});
}

bool PythonInContainer::wait_for(const std::string& file) const {
  for (int i = 0; i < 1000 && read(file).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return !read(file).empty();
}

std::string PythonInContainer::read(const std::string& file) const {
  return read_or_empty(work_ + "/" + file);
}

TreeState PythonInContainer::checkpoint(PageTracking& tracking, Crid crid,
                                        const std::function<void()>& ahead,
                                        const std::function<void()>& frozen) const {
  Cgroup group = Cgroup::open(cgroup());
  std::vector<HostPid> procs;
  for (pid_t p : group.procs()) procs.push_back(HostPid{p});
  tracking.prepare(procs);
  ahead();
  FrozenCgroup freeze(group);
  TreeState tree = capture_tree(pid(), cgroup(), CaptureOptions{crid, Crid{}, &tracking});
  frozen();
  return tree;
}

std::string read_or_empty(const std::string& path) {
  try {
    return read_file(path);
  } catch (const Error&) {
    return "";
  }
}

}  // namespace deja::kmod::test
