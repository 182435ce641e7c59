// A tracer that dies in the middle of an injected syscall (a recorder SIGKILLed while it
// captures) must leave the thread running as if nothing happened: from the engine's pages the
// thread restores its own registers and signal mask. Each case runs a real zdtm program, lets
// a tracer process die at one point of the injection, then has the program check itself.
// The tracer runs boosted, as the recorder's does under the freeze, so the thread is raised
// above it while injected into: its ordinary scheduling must come back as well.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "base/ThreadPriority.h"
#include "kmod/ProcFs.h"
#include "kmod/inject/Parasite.h"
#include "kmod/inject/RemoteMemory.h"
#include "kmod/inject/RemoteSyscalls.h"
#include "kmod/inject/Tracee.h"

namespace deja::kmod {
namespace {

enum class Death { kParked, kAtEntry, kAtEntryStop, kBetweenCalls, kInBatch, kNever };

// Whether `pid`'s main thread is blocked in syscall `nr` (/proc/PID/syscall).
bool in_syscall(HostPid pid, long nr) {
  std::ifstream f("/proc/" + std::to_string(pid.value) + "/syscall");
  long now = -1;
  return (f >> now) && now == nr;
}

// Runs in the tracer process; returns only through _exit.
[[noreturn]] void trace_and_die(HostPid target, Death at) {
  BoostedThread boost;
  if (!boost.boosted()) _exit(8);
  Tracee t(target);
  RemotePtr vdso{};
  for (const auto& m : procfs::maps(target))
    if (m.path == "[vdso]") vdso = find_syscall_insn(target, m.start, m.end);
  Parasite p = install_parasite(t, vdso);
  auto* scope = new RemoteSyscalls(t, p);  // never destroyed where the tracer dies
  if (::sched_getscheduler(target.value) != SCHED_FIFO) _exit(7);
  if (at == Death::kParked) _exit(0);
  if (at == Death::kBetweenCalls) {
    if (scope->call(SYS_getpid) != target.value) _exit(3);
    _exit(0);
  }
  if (at == Death::kInBatch) {
    // The batch's first call waits for this tracer to die (poll on its pidfd), so the death
    // falls inside the batch however slowly either side runs. The thread finishes the batch,
    // waits for the engine in vain, then restores itself.
    long pidfd = scope->call(SYS_pidfd_open, static_cast<uint64_t>(::getpid()), 0);
    if (pidfd < 0) _exit(6);
    pollfd pfd{static_cast<int>(pidfd), POLLIN, 0};
    write_memory(target, p.scratch(), std::string_view(reinterpret_cast<char*>(&pfd), sizeof pfd));
    std::thread([target] {
      while (!in_syscall(target, SYS_poll)) std::this_thread::yield();
      _exit(0);
    }).detach();
    constexpr uint64_t kPollMs = 60000;  // far beyond the test's timeout: never reached
    scope->run({{SYS_poll, {p.scratch().addr, 1, kPollMs}},
                {SYS_close, {static_cast<uint64_t>(pidfd)}},
                {SYS_getpid, {}}});
    _exit(4);  // run() returned: the tracer outlived the batch
  }
  if (at == Death::kNever) {
    std::vector<long> got = scope->run({{SYS_getpid, {}}, {SYS_getppid, {}}, {SYS_getpid, {}}});
    if (got.size() != 3 || got[0] != target.value || got[2] != target.value || got[1] <= 0)
      _exit(5);
  }
  // One call by hand, to die inside it: registers of a getpid on the stub's entry.
  user_regs_struct r = t.regs();
  r.rax = SYS_getpid;
  r.rip = p.entry().addr;
  r.orig_rax = static_cast<unsigned long long>(-1);
  t.set_regs(r);
  if (at == Death::kAtEntry) _exit(0);
  t.resume_and_wait(PTRACE_SYSCALL);
  if (at == Death::kAtEntryStop) _exit(0);
  t.resume_and_wait(PTRACE_SYSCALL);
  delete scope;  // kNever: the tracer puts the thread back itself
  _exit(0);
}

class Program {
 public:
  explicit Program(const std::string& name) : name_(name) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      std::string path = std::string(DEJA_ZDTM_DIR) + "/" + name;
      ::execl(path.c_str(), name.c_str(), nullptr);
      _exit(127);
    }
    ::close(out[1]);
    out_ = out[0];
    EXPECT_NE(read_until("ready").find("ready"), std::string::npos) << name;
  }
  ~Program() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_);
  }
  pid_t pid() const { return pid_; }
  /// What the program prints until `word` (empty: all of it) or the end of its output.
  std::string read_until(const std::string& word) {
    std::string got;
    char buf[256];
    while (word.empty() || got.find(word) == std::string::npos) {
      ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }
  /// Signals the program to check itself; its exit status and what it printed.
  std::pair<int, std::string> finish() {
    ::kill(pid_, SIGUSR1);
    std::string said = read_until("");  // everything, up to its exit
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return {status, said};
  }

 private:
  std::string name_;
  pid_t pid_ = -1;
  int out_ = -1;
};

void run_case(const std::string& program, Death at) {
  Program prog(program);
  // Let it settle into its wait (a syscall the injection interrupts and must restart).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  pid_t tracer = ::fork();
  if (tracer == 0) trace_and_die(HostPid{prog.pid()}, at);
  int st = 0;
  ASSERT_EQ(::waitpid(tracer, &st, 0), tracer);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "tracer status " << st;
  // A thread released inside a batch restores itself only once it gives up waiting.
  int policy = SCHED_FIFO;
  for (int i = 0; i < 200 && (policy = ::sched_getscheduler(prog.pid())) != SCHED_OTHER; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(policy, SCHED_OTHER) << program << " kept the priority the engine gave it";
  auto [status, said] = prog.finish();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << program << " status " << status << ": " << said;
  EXPECT_NE(said.find("PASS"), std::string::npos) << "[" << said << "]";
}

class TracerDeath : public ::testing::TestWithParam<std::tuple<const char*, Death>> {};

TEST_P(TracerDeath, LeavesTheProgramRunningAsBefore) {
  run_case(std::get<0>(GetParam()), std::get<1>(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(
    Points, TracerDeath,
    ::testing::Combine(::testing::Values("zdtm_signals", "zdtm_memory_chain", "zdtm_fpu",
                                         "zdtm_sleeping_syscall"),
                       ::testing::Values(Death::kParked, Death::kAtEntry, Death::kAtEntryStop,
                                         Death::kBetweenCalls, Death::kInBatch, Death::kNever)));

}  // namespace
}  // namespace deja::kmod
