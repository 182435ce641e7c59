// The first half of a revive, inside the new PID namespace: the process tree with the right
// PIDs, sessions, groups and threads, each member waiting to be filled from outside.
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
#include <cstring>
#include <set>
#include <string>

#include "base/Error.h"
#include "kmod/KernelCompat.h"
#include "kmod/Restore.h"

namespace deja::kmod {

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
void join_group(const ProcessState& p) {
  for (int tries = 0; ::getpgid(0) != p.pgid.value; ++tries) {
    if (::setpgid(0, p.pgid.value) == 0) return;
    if (errno != EPERM || tries == 500)
      fail("setpgid(" + std::to_string(p.pgid.value) + ") for pid " + std::to_string(p.pid.value) +
           ": " + std::strerror(errno));
    ::usleep(10000);
  }
}

void set_session_and_group(const ProcessState& p) {
  if (p.sid == p.pid && ::getsid(0) != p.pid.value && ::setsid() < 0)
    fail("setsid for pid " + std::to_string(p.pid.value) + ": " + std::strerror(errno));
  if (::getsid(0) != p.sid.value)
    fail("pid " + std::to_string(p.pid.value) + " (parent " + std::to_string(p.ppid.value) +
         ") needs session " + std::to_string(p.sid.value) +
         " which its parent does not provide (not supported)");
  join_group(p);
}

const ProcessState* find(const TreeState& tree, VPid pid) {
  for (const ProcessState& p : tree.processes)
    if (p.pid == pid) return &p;
  return nullptr;
}

// A child of init whose session is neither its own nor init's: a daemon that a member of
// that session forked and left behind when its parent exited (at-spi-bus-launcher started by
// a GTK program, say). It is rebuilt the way it came about: forked inside its session by a
// short-lived go-between that then exits, so the kernel hands it to init.
bool adopted(const TreeState& tree, const ProcessState& p) {
  const ProcessState& init = tree.processes[0];
  return p.ppid == init.pid && p.pid != init.pid && p.sid != p.pid && p.sid != init.sid;
}

// A PID for a go-between: above every PID, session and group of the image, so it can never
// take a number a member needs.
pid_t go_between_pid(const TreeState& tree, const ProcessState& orphan) {
  int32_t top = 0;
  for (const ProcessState& p : tree.processes) {
    top = std::max({top, p.pid.value, p.sid.value, p.pgid.value});
    for (const ThreadState& t : p.threads) top = std::max(top, t.tid.value);
  }
  return top + 1 + orphan.pid.value;
}

[[noreturn]] void build(const TreeState& tree, const ProcessState& p);
[[noreturn]] void become_zombie(const TreeState& tree, const ProcessState& p);

// Forks member `p` of the tree at its PID; in the child, builds it (or makes it a zombie) and
// never returns.
void fork_member(const TreeState& tree, const ProcessState& p) {
  pid_t r = clone_at(p.pid.value, 0, 0, 0);
  if (r < 0)
    fail("clone3 with set_tid " + std::to_string(p.pid.value) + ": " + std::strerror(errno));
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
void build_adopted_members(const TreeState& tree, VPid session) {
  for (const ProcessState& o : tree.processes) {
    if (o.sid != session || !adopted(tree, o)) continue;
    run_in_passing(go_between_pid(tree, o), "the go-between for pid " + std::to_string(o.pid.value),
                   [&] { fork_member(tree, o); });
  }
}

// Sessions whose leader is not in the image but which still have adopted members: a stand-in
// with the session's PID makes the session, forks its members and exits.
void build_leaderless_sessions(const TreeState& tree) {
  std::set<int32_t> done;
  for (const ProcessState& o : tree.processes) {
    if (!adopted(tree, o) || find(tree, o.sid) || !done.insert(o.sid.value).second) continue;
    run_in_passing(o.sid.value, "the stand-in for session " + std::to_string(o.sid.value), [&] {
      if (::setsid() < 0)
        fail(std::string("setsid for a session stand-in: ") + std::strerror(errno));
      build_adopted_members(tree, o.sid);
    });
  }
}

[[noreturn]] void become_zombie(const TreeState& tree, const ProcessState& p) {
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
void build_children(const TreeState& tree, const ProcessState& p);

[[noreturn]] void build(const TreeState& tree, const ProcessState& p) {
  set_session_and_group(p);
  build_children(tree, p);
  if (p.sid == p.pid) build_adopted_members(tree, p.pid);
  char k = 'k';
  if (::write(g_status_fd, &k, 1) != 1) ::_exit(1);
  wait_forever();
}

void build_children(const TreeState& tree, const ProcessState& p) {
  std::vector<const ProcessState*> kids;
  for (const ProcessState& c : tree.processes)
    if (c.ppid == p.pid && c.pid != p.pid && !adopted(tree, c)) kids.push_back(&c);
  // Lower PIDs first: a process-group leader normally predates the members that join it.
  std::sort(kids.begin(), kids.end(),
            [](const ProcessState* a, const ProcessState* b) { return a->pid < b->pid; });
  for (const ProcessState* c : kids) fork_member(tree, *c);
  for (size_t i = 1; i < p.threads.size(); ++i) {
    void* stack =
        ::mmap(nullptr, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) fail(std::string("mmap thread stack: ") + std::strerror(errno));
    pid_t tid = p.threads[i].tid.value;
    if (clone_thread_at(tid, static_cast<char*>(stack) + 65536) < 0)
      fail("clone3 thread with set_tid " + std::to_string(tid) + " in pid " +
           std::to_string(p.pid.value) + " failed");
  }
}

}  // namespace

void run_skeleton(const TreeState& tree, int report_fd) {
  auto report = [&](const std::string& s) {
    ssize_t n = ::write(report_fd, s.data(), s.size());
    (void)n;
  };
  auto give_up = [&](const std::string& msg) {
    report("E" + msg + "\n");
    ::_exit(1);
  };
  int st[2];
  if (::pipe2(st, O_CLOEXEC) < 0) give_up(std::string("pipe2: ") + std::strerror(errno));
  g_status_fd = st[1];
  // Zombies must stay zombies until their revived parents reap them.
  ::signal(SIGCHLD, SIG_DFL);
  if (tree.processes.empty() || tree.processes[0].pid.value != ::getpid())
    give_up("the image's first process is pid " +
            std::to_string(tree.processes.empty() ? 0 : tree.processes[0].pid.value) +
            " but the skeleton runs as pid " + std::to_string(::getpid()));
  const ProcessState& init = tree.processes[0];
  // PID 1 cannot change its session from inside (it already leads one, as the image's init
  // did); its children are built as for any other process.
  build_children(tree, init);
  build_leaderless_sessions(tree);
  size_t waiting = 0;
  for (const ProcessState& p : tree.processes) waiting += !p.zombie && p.pid != init.pid;
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
  report("R");
  wait_forever();
}

}  // namespace deja::kmod
