// deja-skeleton: the first half of a revive, run as PID 1 of the new container (exec'd there
// by run_skeleton, Skeleton.cpp). Builds the process tree of the plan with the right PIDs,
// sessions, groups and threads, each member waiting to be filled from outside; zombies exit
// with their recorded status. Writes 'R' to the report fd once every member is waiting, or
// 'E' and a one-line message on failure.
//
// Usage: deja-skeleton REPORT_FD PLAN_FD (a memfd holding SkeletonPlan.h's encoding).
// Statically linked and small on purpose: each member is a fork of it, and the filler
// unmaps everything it holds.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include "kmod/KernelCompat.h"
#include "kmod/skeleton/SkeletonPlan.h"

namespace deja::kmod {

using Plan = std::vector<SkeletonMember>;

namespace {


// One pipe shared by every skeleton: 'k' when a process is ready, "E<message>\n" on failure.
int g_status_fd = -1;

[[noreturn]] void fail(const std::string& msg) {
  std::string line = "E" + msg + "\n";
  if (line.size() > 500) line = line.substr(0, 499) + "\n";  // one atomic pipe write
  ssize_t n = ::write(g_status_fd, line.data(), line.size());
  (void)n;
  ::_exit(1);
}

[[noreturn]] void wait_forever() {
  for (;;) ::pause();
}

// A thread that makes no call and touches no memory: the filler replaces its registers
// before it ever runs user code again. Written in assembly because the new thread must not
// return through a C++ stack frame it does not own.
pid_t clone_thread_at(pid_t tid, void* stack_top) {
  pid_t set_tid = tid;
  compat::CloneArgs args{};
  args.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
  args.stack = reinterpret_cast<uint64_t>(stack_top) - 65536;
  args.stack_size = 65536;
  args.set_tid = reinterpret_cast<uint64_t>(&set_tid);
  args.set_tid_size = 1;
  long ret;
  asm volatile(
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "2:\n\t"
      "mov $34, %%eax\n\t"  // pause
      "syscall\n\t"
      "jmp 2b\n\t"
      "1:\n\t"
      : "=a"(ret)
      : "a"(SYS_clone3), "D"(&args), "S"(sizeof args)
      : "rcx", "r11", "memory");
  return static_cast<pid_t>(ret);
}

pid_t clone_at(pid_t pid, uint64_t flags, uint64_t stack, uint64_t stack_size) {
  pid_t set_tid = pid;
  compat::CloneArgs args{};
  args.flags = flags;
  args.exit_signal = SIGCHLD;
  args.stack = stack;
  args.stack_size = stack_size;
  args.set_tid = reinterpret_cast<uint64_t>(&set_tid);
  args.set_tid_size = 1;
  return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
}

// setpgid fails with EPERM while the group's leader, built by another branch of the tree at
// the same time, does not exist yet: wait for it a little.
void join_group(const SkeletonMember& p) {
  for (int tries = 0; ::getpgid(0) != p.pgid; ++tries) {
    if (::setpgid(0, p.pgid) == 0) return;
    if (errno != EPERM || tries == 500)
      fail("setpgid(" + std::to_string(p.pgid) + ") for pid " + std::to_string(p.pid) +
           ": " + std::strerror(errno));
    ::usleep(10000);
  }
}

void set_session_and_group(const SkeletonMember& p) {
  if (p.sid == p.pid && ::getsid(0) != p.pid && ::setsid() < 0)
    fail("setsid for pid " + std::to_string(p.pid) + ": " + std::strerror(errno));
  if (::getsid(0) != p.sid)
    fail("pid " + std::to_string(p.pid) + " (parent " + std::to_string(p.ppid) +
         ") needs session " + std::to_string(p.sid) +
         " which its parent does not provide (not supported)");
  join_group(p);
}

const SkeletonMember* find(const Plan& tree, int32_t pid) {
  for (const SkeletonMember& p : tree)
    if (p.pid == pid) return &p;
  return nullptr;
}

// A child of init whose session is neither its own nor init's: a daemon that a member of
// that session forked and left behind when its parent exited (at-spi-bus-launcher started by
// a GTK program, say). It is rebuilt the way it came about: forked inside its session by a
// short-lived go-between that then exits, so the kernel hands it to init.
bool adopted(const Plan& tree, const SkeletonMember& p) {
  const SkeletonMember& init = tree[0];
  return p.ppid == init.pid && p.pid != init.pid && p.sid != p.pid && p.sid != init.sid;
}

// A PID for a go-between: above every PID, session and group of the image, so it can never
// take a number a member needs.
pid_t go_between_pid(const Plan& tree, const SkeletonMember& orphan) {
  int32_t top = 0;
  for (const SkeletonMember& p : tree) {
    top = std::max({top, p.pid, p.sid, p.pgid});
    for (int32_t t : p.tids) top = std::max(top, t);
  }
  return top + 1 + orphan.pid;
}

[[noreturn]] void build(const Plan& tree, const SkeletonMember& p);
[[noreturn]] void become_zombie(const Plan& tree, const SkeletonMember& p);

// Forks member `p` of the tree at its PID; in the child, builds it (or makes it a zombie) and
// never returns.
void fork_member(const Plan& tree, const SkeletonMember& p) {
  pid_t r = clone_at(p.pid, 0, 0, 0);
  if (r < 0)
    fail("clone3 with set_tid " + std::to_string(p.pid) + ": " + std::strerror(errno));
  if (r == 0) {
    if (p.zombie) become_zombie(tree, p);
    build(tree, p);
  }
}

// Runs `body` in a short-lived process at PID `pid` that exits once it has, and reaps it
// (`what` names that process in errors).
template <class Body>
void run_in_passing(pid_t pid, const std::string& what, Body body) {
  pid_t r = clone_at(pid, 0, 0, 0);
  if (r < 0)
    fail("clone3 with set_tid " + std::to_string(pid) + " (" + what + "): " + std::strerror(errno));
  if (r == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  if (::waitpid(r, &status, 0) != r || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail(what + " failed");
}

// Called in the session's leader (or a stand-in for a leader that is gone): forks each adopted
// member of this session through a go-between and reaps the go-between.
void build_adopted_members(const Plan& tree, int32_t session) {
  for (const SkeletonMember& o : tree) {
    if (o.sid != session || !adopted(tree, o)) continue;
    run_in_passing(go_between_pid(tree, o), "the go-between for pid " + std::to_string(o.pid),
                   [&] { fork_member(tree, o); });
  }
}

// Sessions whose leader is not in the image but which still have adopted members: a stand-in
// with the session's PID makes the session, forks its members and exits.
void build_leaderless_sessions(const Plan& tree) {
  std::set<int32_t> done;
  for (const SkeletonMember& o : tree) {
    if (!adopted(tree, o) || find(tree, o.sid) || !done.insert(o.sid).second) continue;
    run_in_passing(o.sid, "the stand-in for session " + std::to_string(o.sid), [&] {
      if (::setsid() < 0)
        fail(std::string("setsid for a session stand-in: ") + std::strerror(errno));
      build_adopted_members(tree, o.sid);
    });
  }
}

[[noreturn]] void become_zombie(const Plan& tree, const SkeletonMember& p) {
  set_session_and_group(p);
  if (p.sid == p.pid) build_adopted_members(tree, p.pid);
  if (WIFSIGNALED(p.exit_status)) {
    int sig = WTERMSIG(p.exit_status);
    rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::signal(sig, SIG_DFL);
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_UNBLOCK, &all, nullptr);
    // kill(getpid()), not raise(): after a raw clone glibc's cached thread id is the parent's.
    ::syscall(SYS_kill, ::getpid(), sig);
  }
  ::_exit(WEXITSTATUS(p.exit_status));
}

// Forks p's children and creates p's threads; returns in p itself.
void build_children(const Plan& tree, const SkeletonMember& p);

[[noreturn]] void build(const Plan& tree, const SkeletonMember& p) {
  set_session_and_group(p);
  build_children(tree, p);
  if (p.sid == p.pid) build_adopted_members(tree, p.pid);
  char k = 'k';
  if (::write(g_status_fd, &k, 1) != 1) ::_exit(1);
  wait_forever();
}

void build_children(const Plan& tree, const SkeletonMember& p) {
  std::vector<const SkeletonMember*> kids;
  for (const SkeletonMember& c : tree)
    if (c.ppid == p.pid && c.pid != p.pid && !adopted(tree, c)) kids.push_back(&c);
  // Lower PIDs first: a process-group leader normally predates the members that join it.
  std::sort(kids.begin(), kids.end(),
            [](const SkeletonMember* a, const SkeletonMember* b) { return a->pid < b->pid; });
  for (const SkeletonMember* c : kids) fork_member(tree, *c);
  for (size_t i = 1; i < p.tids.size(); ++i) {
    void* stack =
        ::mmap(nullptr, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) fail(std::string("mmap thread stack: ") + std::strerror(errno));
    pid_t tid = p.tids[i];
    if (clone_thread_at(tid, static_cast<char*>(stack) + 65536) < 0)
      fail("clone3 thread with set_tid " + std::to_string(tid) + " in pid " +
           std::to_string(p.pid) + " failed");
  }
}

}  // namespace

[[noreturn]] void run(const Plan& tree, int report_fd) {
  auto give_up = [&](const std::string& msg) {
    std::string line = "E" + msg + "\n";
    ssize_t n = ::write(report_fd, line.data(), line.size());
    (void)n;
    ::_exit(1);
  };
  int st[2];
  if (::pipe2(st, O_CLOEXEC) < 0) give_up(std::string("pipe2: ") + std::strerror(errno));
  g_status_fd = st[1];
  // Zombies must stay zombies until their revived parents reap them.
  ::signal(SIGCHLD, SIG_DFL);
  if (tree.empty() || tree[0].pid != ::getpid())
    give_up("the image's first process is pid " + std::to_string(tree.empty() ? 0 : tree[0].pid) +
            " but the skeleton runs as pid " + std::to_string(::getpid()));
  const SkeletonMember& init = tree[0];
  // PID 1 cannot change its session from inside (it already leads one, as the image's init
  // did); its children are built as for any other process.
  build_children(tree, init);
  build_leaderless_sessions(tree);
  size_t waiting = 0;
  for (const SkeletonMember& p : tree) waiting += !p.zombie && p.pid != init.pid;
  std::string got;
  while (waiting > 0) {
    pollfd pf{st[0], POLLIN, 0};
    int n = ::poll(&pf, 1, 10000);
    if (n <= 0) give_up("skeleton processes did not report ready within 10 s");
    char buf[512];
    ssize_t r = ::read(st[0], buf, sizeof buf);
    if (r <= 0) give_up("skeleton status pipe closed");
    for (ssize_t i = 0; i < r; ++i) {
      if (buf[i] == 'k' && got.empty()) {
        --waiting;
        continue;
      }
      got += buf[i];
    }
    if (!got.empty() && got.back() == '\n') give_up(got.substr(1, got.size() - 2));
  }
  ::close(st[0]);
  ::close(st[1]);
  ssize_t n = ::write(report_fd, "R", 1);
  (void)n;
  wait_forever();
}

// The plan's bytes, read from the start of `fd`.
std::string read_plan(int fd) {
  std::string out;
  char buf[65536];
  for (off_t at = 0;;) {
    ssize_t r = ::pread(fd, buf, sizeof buf, at);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return out;
    out.append(buf, static_cast<size_t>(r));
    at += r;
  }
}

}  // namespace deja::kmod

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  int report_fd = std::atoi(argv[1]);
  int plan_fd = std::atoi(argv[2]);
  auto plan = deja::kmod::decode_skeleton_plan(deja::kmod::read_plan(plan_fd));
  ::close(plan_fd);
  if (!plan) {
    const char msg[] = "Ethe skeleton program cannot read its plan (is deja-skeleton from another build?)\n";
    ssize_t n = ::write(report_fd, msg, sizeof msg - 1);
    (void)n;
    return 1;
  }
  deja::kmod::run(*plan, report_fd);
}
