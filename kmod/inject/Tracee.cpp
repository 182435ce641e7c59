#include "kmod/inject/Tracee.h"

#include <elf.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include <cstring>
#include <utility>

#include "base/Error.h"

namespace deja::kmod {

namespace {

void seize_and_interrupt(HostPid tid, const std::string& name) {
  if (::ptrace(PTRACE_SEIZE, tid.value, nullptr, PTRACE_O_TRACESYSGOOD) < 0)
    throw_errno("ptrace(PTRACE_SEIZE)", name);
  if (::ptrace(PTRACE_INTERRUPT, tid.value, nullptr, nullptr) < 0) {
    int e = errno;
    ::ptrace(PTRACE_DETACH, tid.value, nullptr, nullptr);
    errno = e;
    throw_errno("ptrace(PTRACE_INTERRUPT)", name);
  }
}

// Waits for the stop of a task seized and interrupted; on anything but the interrupt's stop
// the task is let go (with the signal it was stopped for) and the error names it.
void wait_interrupted(HostPid tid, const std::string& name) {
  int status;
  if (::waitpid(tid.value, &status, __WALL) < 0) {
    int e = errno;
    ::ptrace(PTRACE_DETACH, tid.value, nullptr, nullptr);
    errno = e;
    throw_errno("waitpid", name);
  }
  if (!WIFSTOPPED(status))
    throw Error(name + " exited while being seized (status " + std::to_string(status) + ")");
  // A stop other than our interrupt (a signal-delivery stop) means a signal was on its way
  // in; the engine does not capture a task in the middle of delivering a signal.
  if (status >> 16 != PTRACE_EVENT_STOP) {
    ::ptrace(PTRACE_DETACH, tid.value, nullptr, WSTOPSIG(status));
    throw Error(name + " stopped for signal " + std::to_string(WSTOPSIG(status)) +
                " instead of the ptrace interrupt; a signal is being delivered, retry later");
  }
}

}  // namespace

Tracee::Tracee(HostPid tid) : tid_(tid) {
  seize_and_interrupt(tid, name());
  wait_interrupted(tid, name());
  attached_ = true;
}

Tracee::Tracee(HostPid tid, Stopped) : tid_(tid), attached_(true) {}

std::vector<Tracee> seize_all(const std::vector<HostPid>& tids) {
  std::vector<Tracee> held;
  held.reserve(tids.size());
  size_t interrupted = 0;
  // Every task interrupted and not yet waited for is waited for and let go on the way out.
  struct Unwaited {
    const std::vector<HostPid>& tids;
    size_t& interrupted;
    size_t from = 0;
    ~Unwaited() {
      for (size_t i = from; i < interrupted; ++i) {
        try {
          wait_interrupted(tids[i], "task " + std::to_string(tids[i].value));
          ::ptrace(PTRACE_DETACH, tids[i].value, nullptr, nullptr);
        } catch (const Error&) {
          // Gone or let go with its signal already; the first error is the one reported.
        }
      }
    }
  } unwaited{tids, interrupted};
  for (HostPid t : tids) {
    seize_and_interrupt(t, "task " + std::to_string(t.value));
    ++interrupted;
  }
  for (HostPid t : tids) {
    ++unwaited.from;  // waited for here, whatever happens
    wait_interrupted(t, "task " + std::to_string(t.value));
    held.emplace_back(t, Tracee::kStopped);
  }
  return held;
}

Tracee::Tracee(Tracee&& o) noexcept : tid_(o.tid_), attached_(std::exchange(o.attached_, false)) {}

Tracee::~Tracee() {
  if (!attached_ || ::ptrace(PTRACE_DETACH, tid_.value, nullptr, nullptr) == 0) return;
  // Not in a stop: it died (a task killed during a capture), or the engine's stub let it go
  // on by itself. A dead tracee stays a zombie no one else can reap until its tracer has
  // waited for it (its init, or `deja stop`, would wait for ever); a live one would stop
  // for us again at its next signal. Bring it to a stop and detach, or collect its end.
  ::ptrace(PTRACE_INTERRUPT, tid_.value, nullptr, nullptr);
  constexpr int kLooks = 1000;  // 1 ms apart: a task in an uninterruptible sleep is left
  for (int i = 0; i < kLooks; ++i) {
    int status = 0;
    pid_t r = ::waitpid(tid_.value, &status, __WALL | WNOHANG);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return;  // no longer ours to wait for
    if (r > 0 && (WIFEXITED(status) || WIFSIGNALED(status))) return;
    if (r > 0 && ::ptrace(PTRACE_DETACH, tid_.value, nullptr, nullptr) == 0) return;
    timespec nap{0, 1'000'000};
    ::nanosleep(&nap, nullptr);
  }
}

std::string Tracee::name() const {
  return "task " + std::to_string(tid_.value);
}

user_regs_struct Tracee::regs() const {
  user_regs_struct r;
  if (::ptrace(PTRACE_GETREGS, tid_.value, nullptr, &r) < 0)
    throw_errno("ptrace(PTRACE_GETREGS)", name());
  return r;
}

void Tracee::set_regs(const user_regs_struct& r) {
  if (::ptrace(PTRACE_SETREGS, tid_.value, nullptr, &r) < 0)
    throw_errno("ptrace(PTRACE_SETREGS)", name());
}

std::string Tracee::xstate() const {
  // Large enough for every xsave layout shipped so far (AMX needs about 11 KiB).
  std::string buf(16384, '\0');
  iovec iov{buf.data(), buf.size()};
  if (::ptrace(PTRACE_GETREGSET, tid_.value, NT_X86_XSTATE, &iov) < 0)
    throw_errno("ptrace(PTRACE_GETREGSET, NT_X86_XSTATE)", name());
  buf.resize(iov.iov_len);
  return buf;
}

void Tracee::set_xstate(const std::string& xs) {
  std::string buf = xs;
  iovec iov{buf.data(), buf.size()};
  if (::ptrace(PTRACE_SETREGSET, tid_.value, NT_X86_XSTATE, &iov) < 0)
    throw_errno("ptrace(PTRACE_SETREGSET, NT_X86_XSTATE)", name());
}

uint64_t Tracee::signal_mask() const {
  uint64_t m;
  if (::ptrace(PTRACE_GETSIGMASK, tid_.value, sizeof m, &m) < 0)
    throw_errno("ptrace(PTRACE_GETSIGMASK)", name());
  return m;
}

void Tracee::set_signal_mask(uint64_t m) {
  if (::ptrace(PTRACE_SETSIGMASK, tid_.value, sizeof m, &m) < 0)
    throw_errno("ptrace(PTRACE_SETSIGMASK)", name());
}

std::string Tracee::pending_signals(bool shared) const {
  std::string out;
  for (uint64_t off = 0;; ++off) {
    compat::PtracePeekSiginfoArgs a{off, shared ? compat::kPeekSiginfoShared : 0, 1};
    siginfo_t si;
    long n = ::ptrace(PTRACE_PEEKSIGINFO, tid_.value, &a, &si);
    if (n < 0) throw_errno("ptrace(PTRACE_PEEKSIGINFO)", name());
    if (n == 0) return out;
    out.append(reinterpret_cast<const char*>(&si), sizeof si);
  }
}

compat::PtraceRseqConfiguration Tracee::rseq() const {
  compat::PtraceRseqConfiguration c{};
  if (::ptrace(static_cast<__ptrace_request>(compat::kPtraceGetRseqConfiguration), tid_.value,
               sizeof c, &c) < 0)
    throw_errno("ptrace(PTRACE_GET_RSEQ_CONFIGURATION)", name());
  return c;
}

void Tracee::resume() {
  if (::ptrace(PTRACE_CONT, tid_.value, nullptr, nullptr) < 0) throw_errno("ptrace(PTRACE_CONT)", name());
}

void Tracee::interrupt() {
  if (::ptrace(PTRACE_INTERRUPT, tid_.value, nullptr, nullptr) < 0)
    throw_errno("ptrace(PTRACE_INTERRUPT)", name());
  int status;
  if (::waitpid(tid_.value, &status, __WALL) < 0) throw_errno("waitpid", name());
  if (!WIFSTOPPED(status)) {
    attached_ = false;
    throw Error(name() + " died while running injected syscalls (status " +
                std::to_string(status) + ")");
  }
  if (status >> 16 != PTRACE_EVENT_STOP)
    throw Error(name() + ": unexpected stop (signal " + std::to_string(WSTOPSIG(status)) +
                ") while running injected syscalls");
}

void Tracee::stop_in_signal_path() {
  if (::ptrace(PTRACE_INTERRUPT, tid_.value, nullptr, nullptr) < 0)
    throw_errno("ptrace(PTRACE_INTERRUPT)", name());
  int status = resume_and_wait(PTRACE_CONT);
  if (status >> 16 != PTRACE_EVENT_STOP)
    throw Error(name() + ": unexpected stop (signal " + std::to_string(WSTOPSIG(status)) +
                ") on the way back from injected syscalls");
}

int Tracee::resume_and_wait(int request) {
  if (::ptrace(static_cast<__ptrace_request>(request), tid_.value, nullptr, nullptr) < 0)
    throw_errno("ptrace(resume)", name());
  int status;
  if (::waitpid(tid_.value, &status, __WALL) < 0) throw_errno("waitpid", name());
  if (!WIFSTOPPED(status)) {
    attached_ = false;
    throw Error(name() + " died during an injected syscall (status " + std::to_string(status) +
                ")");
  }
  return status;
}

}  // namespace deja::kmod
