// deja doctor: probes each kernel and user-space feature Deja relies on, like `criu check`.
// Every probe exercises the feature for real (a tiny namespace, a freeze, a scan) rather
// than reading a config file, so "ok" means it works here.
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>

#include "base/Error.h"
#include "base/Files.h"
#include "base/Json.h"
#include "base/ScopedFd.h"
#include "cli/Args.h"
#include "cli/Command.h"
#include "kmod/KernelCompat.h"
#include "base/Cgroup.h"
#include "recorder/ContainerIds.h"
#include "recorder/ContainerLimits.h"

namespace deja::cli {

namespace {

struct Probe {
  const char* name;
  const char* purpose;
  bool required;
  std::function<void()> check;  // throws when the feature does not work
  const std::string* detail = nullptr;  // what the check found, when it says more than ok
};

void need(bool ok, const std::string& what) {
  if (!ok) throw Error(what);
}

// Runs `body` in a child; the feature works when the child exits 0.
void in_child(const std::function<int()>& body, const std::string& what) {
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", what);
  if (pid == 0) ::_exit(body());
  int st = 0;
  ::waitpid(pid, &st, 0);
  need(WIFEXITED(st) && WEXITSTATUS(st) == 0, what + " failed in a test process");
}

void probe_btrfs() {
  need(read_file("/proc/filesystems").find("\tbtrfs\n") != std::string::npos,
       "btrfs is not in /proc/filesystems");
  need(run_command({"mkfs.btrfs", "--version"}).status == 0,
       "mkfs.btrfs not found: install btrfs-progs");
}

void probe_cgroup_freeze() {
  std::string path = cgroup2_mount() + "/deja-doctor-" + std::to_string(::getpid());
  Cgroup cg = Cgroup::create(path);
  struct Remove {
    Cgroup& cg;
    ~Remove() {
      try {
        cg.remove();
      } catch (...) {
      }
    }
  } remove{cg};
  cg.set_frozen(true);
  cg.wait_frozen(true, std::chrono::milliseconds(2000));
  cg.set_frozen(false);
  cg.wait_frozen(false, std::chrono::milliseconds(2000));
}

void probe_namespaces() {
  in_child(
      [] {
        return ::unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID |
                         CLONE_NEWCGROUP) == 0
                   ? 0
                   : 1;
      },
      "unshare(mnt, uts, ipc, net, pid)");
}

void probe_ptrace() {
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", "ptrace probe");
  if (pid == 0) {
    ::pause();
    ::_exit(0);
  }
  long rc = ::ptrace(static_cast<__ptrace_request>(0x4206 /* PTRACE_SEIZE */), pid, 0, 0);
  int err = errno;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  if (rc != 0) throw SysError("ptrace(PTRACE_SEIZE)", "a child", err);
}

void probe_userfaultfd() {
  ScopedFd uffd(static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY)));
  if (!uffd) throw_errno("userfaultfd", "UFFD_USER_MODE_ONLY");
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
  if (::ioctl(uffd.get(), UFFDIO_API, &api) != 0)
    throw_errno("ioctl UFFDIO_API", "WP_ASYNC | WP_UNPOPULATED");
}

void probe_pagemap_scan() {
  ScopedFd pm(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  if (!pm) throw_errno("open", "/proc/self/pagemap");
  void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) throw_errno("mmap", "probe page");
  static_cast<char*>(page)[0] = 1;
  page_region region{};
  pm_scan_arg arg{};
  arg.size = sizeof arg;
  arg.start = reinterpret_cast<uint64_t>(page);
  arg.end = arg.start + 4096;
  arg.vec = reinterpret_cast<uint64_t>(&region);
  arg.vec_len = 1;
  arg.category_mask = PAGE_IS_PRESENT;
  arg.return_mask = PAGE_IS_PRESENT;
  long n = ::ioctl(pm.get(), PAGEMAP_SCAN, &arg);
  int err = errno;
  ::munmap(page, 4096);
  if (n < 0) throw SysError("ioctl PAGEMAP_SCAN", "/proc/self/pagemap", err);
  need(n == 1, "PAGEMAP_SCAN did not report a written page");
}

void probe_io_uring() {
  io_uring_params p{};
  ScopedFd ring(static_cast<int>(::syscall(SYS_io_uring_setup, 4, &p)));
  if (!ring) throw_errno("io_uring_setup", "4 entries");
}

void probe_pidfd_getfd() {
  ScopedFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));
  if (!pidfd) throw_errno("pidfd_open", "self");
  ScopedFd copy(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), 0, 0)));
  if (!copy) throw_errno("pidfd_getfd", "fd 0 of self");
}

void probe_clone3_set_tid() {
  in_child(
      [] {
        if (::unshare(CLONE_NEWPID) != 0) return 1;
        pid_t tid[1] = {1};
        clone_args args{};
        args.exit_signal = SIGCHLD;
        args.set_tid = reinterpret_cast<uint64_t>(tid);
        args.set_tid_size = 1;
        long pid = ::syscall(SYS_clone3, &args, sizeof args);
        if (pid == 0) ::_exit(::getpid() == 1 ? 0 : 1);
        if (pid < 0) return 1;
        int st = 0;
        ::waitpid(static_cast<pid_t>(pid), &st, 0);
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
      },
      "clone3 with set_tid");
}

// Which cgroup version holds each controller the session limits use, in `detail`.
void probe_limit_controllers(std::string& detail) {
  for (const std::string& c : recorder::limit_controllers())
    detail += (detail.empty() ? "" : "; ") + c;
}

// A process in a new user namespace gets the map a session would (written from outside, as
// the container's builder does); `detail` says which host ids sessions map to.
void probe_user_namespace(std::string& detail) {
  recorder::IdMap map = recorder::default_id_map();  // a malformed deja: line is the problem
  auto range = [](uint32_t first, const std::string& file) {
    return std::to_string(first) + "-" + std::to_string(first + recorder::kIdCount - 1) +
           (first == recorder::kDefaultHostId ? " (Deja's own: no deja: line in " + file + ")"
                                              : " (the deja: line of " + file + ")");
  };
  detail = "sessions' ids 0-65535 are host uids " + range(map.host_uid, recorder::subuid_file()) +
           " and gids " + range(map.host_gid, recorder::subgid_file());
  int ready[2], go[2];
  if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(go, O_CLOEXEC) != 0)
    throw_errno("pipe2", "user namespace probe");
  ScopedFd ready_r(ready[0]), ready_w(ready[1]), go_r(go[0]), go_w(go[1]);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", "user namespace probe");
  if (pid == 0) {
    char c = 0;
    if (::unshare(CLONE_NEWUSER) != 0 || ::write(ready[1], "r", 1) != 1) ::_exit(2);
    // Mapped, it can become the namespace's root, as a session's first process does.
    bool root = ::read(go[0], &c, 1) == 1 && ::setresgid(0, 0, 0) == 0 &&
                ::setresuid(0, 0, 0) == 0 && ::getuid() == 0;
    ::_exit(root ? 0 : 1);
  }
  ready_w.reset();
  go_r.reset();
  char c = 0;
  bool entered = ::read(ready_r.get(), &c, 1) == 1;
  std::string refused;
  if (entered) {
    try {
      recorder::write_process_id_map(pid, map);
    } catch (const std::exception& e) {
      refused = e.what();
    }
  }
  // Only once it is in (else it is gone and a write would be a SIGPIPE).
  if (entered && ::write(go_w.get(), "g", 1) != 1 && refused.empty()) refused = "the probe died";
  int st = 0;
  ::waitpid(pid, &st, 0);
  need(entered, "unshare(CLONE_NEWUSER) failed in a test process (user.max_user_namespaces?); "
                "deja record --no-userns runs sessions without one");
  need(refused.empty(), refused);
  need(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "the test process could not become root of its user namespace (setresuid(0))");
}

void probe_loop() {
  need(path_exists("/dev/loop-control"), "/dev/loop-control is missing (loop driver)");
}

}  // namespace

int cmd_doctor(const Invocation& inv) {
  Args args(inv.words, {"json"}, {});
  std::string controllers, id_ranges;
  const Probe probes[] = {
      {"btrfs", "session files, snapshots (FSIDs) and branches", true, probe_btrfs},
      {"loop", "a store image when the store folder is not on btrfs", true, probe_loop},
      {"cgroup2-freeze", "freezing a session for a consistent checkpoint", true,
       probe_cgroup_freeze},
      {"cgroup-limits", "a session's task, memory and CPU limits", true,
       [&] { probe_limit_controllers(controllers); }, &controllers},
      {"namespaces", "session containers (pid, mount, uts, ipc, net, cgroup)", true,
       probe_namespaces},
      {"user-namespace", "a session's root that is nobody on the host (deja record's default)",
       false, [&] { probe_user_namespace(id_ranges); }, &id_ranges},
      {"ptrace", "capturing and restoring process state", true, probe_ptrace},
      {"userfaultfd-wp-async", "tracking pages written between checkpoints", true,
       probe_userfaultfd},
      {"pagemap-scan", "finding written pages in one call", true, probe_pagemap_scan},
      {"io_uring", "writing images back after the session thaws", true, probe_io_uring},
      {"pidfd_getfd", "taking a userfaultfd out of a session process", true, probe_pidfd_getfd},
      {"clone3-set_tid", "reviving processes with their original PIDs", true, probe_clone3_set_tid},
  };
  bool missing_required = false;
  JsonWriter w;
  w.begin_array();
  for (const Probe& p : probes) {
    std::string problem;
    try {
      p.check();
    } catch (const std::exception& e) {
      problem = e.what();
      missing_required |= p.required;
    }
    if (args.flag("json")) {
      w.begin_object().field("feature", p.name).field("ok", problem.empty());
      w.field("required", p.required).field("for", p.purpose);
      if (p.detail && !p.detail->empty()) w.field("detail", *p.detail);
      if (!problem.empty()) w.field("problem", problem);
      w.end_object();
    } else {
      std::string detail = p.detail && !p.detail->empty() ? " (" + *p.detail + ")" : "";
      std::printf("%-22s %-8s %s%s%s%s\n", p.name, problem.empty() ? "ok" : "missing", p.purpose,
                  detail.c_str(), problem.empty() ? "" : ": ", problem.c_str());
    }
  }
  w.end_array();
  if (args.flag("json")) std::printf("%s\n", w.str().c_str());
  return missing_required ? 1 : 0;
}

}  // namespace deja::cli
