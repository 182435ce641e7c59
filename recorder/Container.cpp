#include "recorder/Container.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "base/Cgroup.h"
#include "base/Error.h"
#include "base/Files.h"
#include "recorder/ContainerLimits.h"
#include "recorder/ContainerView.h"

namespace deja::recorder {

namespace {

// Folders of the subvolume and where they appear inside the container.
struct SessionMount {
  const char* in_subvolume;
  const char* in_container;  // nullptr: the session's home
};
constexpr SessionMount kSessionMounts[] = {
    {"home", nullptr}, {"tmp", "/tmp"}, {"var-tmp", "/var/tmp"}, {"run", "/run"}};

void check_sys(int rc, const char* call, const std::string& object) {
  if (rc != 0) throw_errno(call, object);
}

void bind_mount(const std::string& from, const std::string& to) {
  check_sys(::mount(from.c_str(), to.c_str(), nullptr, MS_BIND, nullptr), "mount --bind",
            from + " on " + to);
}

void set_tree_read_only(const std::string& path, bool read_only) {
  mount_attr attr{};
  (read_only ? attr.attr_set : attr.attr_clr) = MOUNT_ATTR_RDONLY;
  check_sys(::mount_setattr(AT_FDCWD, path.c_str(), AT_RECURSIVE, &attr, sizeof attr),
            "mount_setattr", path);
}

void set_attributes(const std::string& path, uint64_t attributes) {
  mount_attr attr{};
  attr.attr_set = attributes;
  check_sys(::mount_setattr(AT_FDCWD, path.c_str(), 0, &attr, sizeof attr), "mount_setattr", path);
}

void bring_up_loopback() {
  ScopedFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) throw_errno("socket", "AF_INET");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) < 0) throw_errno("ioctl SIOCGIFFLAGS", "lo");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) < 0) throw_errno("ioctl SIOCSIFFLAGS", "lo");
}

// Runs in the builder, host root in a mount namespace of its own: lays out the container's
// root, complete but for its /proc, and leaves the builder's cwd there.
void build_container_root(const ContainerSpec& spec) {
  check_sys(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "mount --make-rprivate",
            "/");
  const std::string root = spec.files + "/.deja/root";
  check_sys(::mount("/", root.c_str(), nullptr, MS_BIND | MS_REC, nullptr), "mount --rbind",
            "/ on " + root);
  // Other sessions and the catalog must not be reachable from inside.
  if (spec.store_loop_backed)
    check_sys(::umount2((root + spec.store_root).c_str(), MNT_DETACH), "umount",
              root + spec.store_root);
  check_sys(::mount("tmpfs", (root + spec.store_dir).c_str(), "tmpfs", MS_RDONLY, "mode=0700"),
            "mount tmpfs", root + spec.store_dir);
  set_tree_read_only(root, true);
  build_host_view(root);
  // Host homes stay private; the session's home is the only one inside.
  check_sys(::mount("tmpfs", (root + "/home").c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"),
            "mount tmpfs", root + "/home");
  make_dirs(root + spec.home, 0755);
  for (const auto& m : kSessionMounts) {
    std::string to = root + (m.in_container ? m.in_container : spec.home);
    bind_mount(spec.files + "/" + m.in_subvolume, to);
    // What the session writes holds no device nodes and no set-id programs that work.
    set_attributes(to, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID);
  }
  // The host's /proc shows the host's processes: PID 1 mounts its own on the empty folder.
  check_sys(::umount2((root + "/proc").c_str(), MNT_DETACH), "umount", root + "/proc");
  check_sys(::chdir(root.c_str()), "chdir", root);
}

// Runs as PID 1 in the new namespaces, cwd at the root the builder laid out (in a user
// namespace every mount of it is locked: the session cannot undo the view).
void enter_container_root(const ContainerSpec& spec) {
  // A session process goes before its recorder when memory runs out.
  write_file("/proc/self/oom_score_adj", std::to_string(kSessionOomScoreAdj));
  // The builder put us in the session's groups; they become the root of what we see.
  check_sys(::unshare(CLONE_NEWCGROUP), "unshare", "cgroup namespace");
  if (spec.ids.enabled()) {
    // pivot_root refuses a locked new root, and in a user namespace every mount the builder
    // made is; a recursive bind made here is not (what is under it stays locked). Still the
    // host's uid 0, we may reach it through the store, whose folders are that uid's.
    const std::string root = spec.files + "/.deja/root";
    check_sys(::mount(".", ".", nullptr, MS_BIND | MS_REC, nullptr), "mount --rbind", root);
    check_sys(::chdir(root.c_str()), "chdir", root);
    become_session_root();
  }
  // Mounted before the pivot, while a full proc file system is still in view: a user
  // namespace may only mount one it could already see.
  check_sys(::mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
            "mount proc", "/proc");
  check_sys(static_cast<int>(::syscall(SYS_pivot_root, ".", ".")), "pivot_root", spec.files);
  check_sys(::umount2(".", MNT_DETACH), "umount", "old root");
  check_sys(::chdir("/"), "chdir", "/");
  mask_kernel_interfaces();
  check_sys(::sethostname(spec.hostname.c_str(), spec.hostname.size()), "sethostname",
            spec.hostname);
  bring_up_loopback();
  check_sys(::chdir(spec.home.c_str()), "chdir", spec.home);
}

[[noreturn]] void report_and_exit(int error_fd, const std::string& message) {
  ssize_t ignored = ::write(error_fd, message.data(), message.size());
  (void)ignored;
  ::_exit(127);
}

// PID 1 of the container: waits until the builder has placed it (groups, id map), then
// enters its root and runs the payload.
[[noreturn]] void run_init(const ContainerSpec& spec,
                           const std::function<void(int error_fd)>& payload, int error_fd,
                           int go_fd) {
  char go = 0;
  if (::read(go_fd, &go, 1) != 1) ::_exit(127);  // the builder failed and said why
  ::close(go_fd);
  try {
    enter_container_root(spec);
    if (spec.confine) confine_process(/*keep_ptrace=*/false);
    payload(error_fd);
    report_and_exit(error_fd, "container payload returned");
  } catch (const std::exception& e) {
    report_and_exit(error_fd, e.what());
  }
}

// The builder: lays out the root, clones PID 1 into the new namespaces as a child of the
// recorder (CLONE_PARENT), tells the recorder its PID, and gives it its cgroup v1 groups and
// its id map (which only a process outside its user namespace may write) before it goes on.
[[noreturn]] void run_builder(const ContainerSpec& spec,
                              const std::function<void(int error_fd)>& payload, int error_fd,
                              int pid_fd) {
  try {
    check_sys(::unshare(CLONE_NEWNS), "unshare", "container builder mount namespace");
    build_container_root(spec);
    int go[2];
    check_sys(::pipe2(go, O_CLOEXEC), "pipe2", "container start");
    clone_args args{};
    args.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
                 CLONE_INTO_CGROUP | CLONE_PARENT;
    // In one clone with the others, so the user namespace owns them all: a revive's clone3
    // with set_tid needs CAP_CHECKPOINT_RESTORE over the PID namespace.
    if (spec.ids.enabled()) args.flags |= CLONE_NEWUSER;
    args.exit_signal = 0;  // CLONE_PARENT: the recorder gets SIGCHLD, as for its own child
    args.cgroup = static_cast<uint64_t>(spec.cgroup_fd);
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) throw_errno("clone3", "session container");
    if (pid == 0) {
      ::close(go[1]);
      ::close(pid_fd);
      run_init(spec, payload, error_fd, go[0]);
    }
    ::close(go[0]);
    auto init = static_cast<pid_t>(pid);
    if (::write(pid_fd, &init, sizeof init) != sizeof init) throw_errno("write", "container pid");
    for (const auto& procs : spec.join_cgroups) write_file(procs, std::to_string(init));
    if (spec.ids.enabled()) write_process_id_map(init, spec.ids);
    if (::write(go[1], "g", 1) != 1) throw_errno("write", "container start");
    ::_exit(0);
  } catch (const std::exception& e) {
    report_and_exit(error_fd, e.what());
  }
}

// Reaps the builder and returns PID 1's pid, or -1 when the builder failed before its clone.
pid_t wait_for_builder(pid_t builder, int pid_fd) {
  pid_t init_pid = -1;
  if (::read(pid_fd, &init_pid, sizeof init_pid) != sizeof init_pid) init_pid = -1;
  while (::waitpid(builder, nullptr, 0) < 0 && errno == EINTR) {
  }
  return init_pid;
}

}  // namespace

StartedContainer::~StartedContainer() {
  if (init_pid_ < 0) return;
  try {
    Cgroup cgroup = Cgroup::open(cgroup_path_);
    cgroup.set_frozen(false);  // a frozen process would not die
    cgroup.kill_all();
    // The init of a PID namespace waits for all its children before it is gone, and a
    // child that died while we still traced it (a revive that failed part way) is reported
    // to us, not to it: reap such tracees too, or we and the init would wait on each other.
    bool reaped = false;
    for (int i = 0; i < 1000 && !reaped; ++i) {
      reaped = ::waitpid(init_pid_, nullptr, WNOHANG | __WALL) == init_pid_;
      while (!reaped && ::waitpid(-1, nullptr, WNOHANG | __WALL) > 0) {
      }
      if (!reaped) ::usleep(10000);
    }
    if (!reaped)
      std::fprintf(stderr, "deja: the session container's init %d did not end within 10 s\n",
                   static_cast<int>(init_pid_));
    for (int i = 0; i < 500 && !cgroup.empty(); ++i) ::usleep(10000);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "deja: could not end the session container (init %d): %s\n",
                 static_cast<int>(init_pid_), e.what());
  }
}

void prepare_session_files(const std::string& files) {
  make_dirs(files + "/home", 0755);
  for (const char* d : {"/tmp", "/var-tmp"}) {
    make_dirs(files + d, 01777);
    check_sys(::chmod((files + d).c_str(), 01777), "chmod", files + d);
  }
  make_dirs(files + "/run/deja", 0755);
  make_dirs(files + "/.deja/root", 0755);
}

std::string session_log_path(const std::string& files) {
  return files + "/run/deja/session.log";
}

ContainerInit start_container(const ContainerSpec& spec,
                              const std::function<void(int error_fd)>& payload,
                              const std::function<void()>& meanwhile) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) throw_errno("pipe2", "container errors");
  ScopedFd err_rd(pipefd[0]), err_wr(pipefd[1]);
  if (::pipe2(pipefd, O_CLOEXEC) != 0) throw_errno("pipe2", "container init pid");
  ScopedFd pid_rd(pipefd[0]), pid_wr(pipefd[1]);

  pid_t builder = ::fork();
  if (builder < 0) throw_errno("fork", "session container builder");
  if (builder == 0) {
    err_rd.reset();
    pid_rd.reset();
    run_builder(spec, payload, err_wr.get(), pid_wr.get());
  }
  err_wr.reset();
  pid_wr.reset();
  if (meanwhile) {
    try {
      meanwhile();
    } catch (...) {
      // The builder may still be at work: its answer (PID 1's pid, or none) comes first.
      pid_t init_pid = wait_for_builder(builder, pid_rd.get());
      if (init_pid > 0) {
        ::kill(init_pid, SIGKILL);
        ::waitpid(init_pid, nullptr, 0);
      }
      throw;
    }
  }
  pid_t init_pid = wait_for_builder(builder, pid_rd.get());
  // The error pipe ends once PID 1 has exec'd (or failed, or the builder did before it).
  std::string message = read_all(err_rd.get());
  if (message.empty() && init_pid < 0) message = "the container builder ended without a word";
  if (!message.empty()) {
    if (init_pid > 0) ::waitpid(init_pid, nullptr, 0);
    throw Error("starting the session container: " + message);
  }
  ScopedFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, init_pid, 0)));
  if (!pidfd) throw_errno("pidfd_open", "session container init " + std::to_string(init_pid));
  return ContainerInit{init_pid, std::move(pidfd)};
}

}  // namespace deja::recorder
