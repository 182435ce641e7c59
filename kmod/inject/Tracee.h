// A thread held under ptrace: seized and interrupted on construction, detached on
// destruction, so no error path can leave a session's task stopped or traced. Works on tasks
// of a cgroup-v2-frozen group: PTRACE_INTERRUPT moves a frozen task from the freezer trap
// into a ptrace stop (it still counts as frozen), and after detach it re-enters the freezer
// trap until the group is thawed (verified on 6.18).
#pragma once

#include <signal.h>
#include <sys/user.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kmod/KernelCompat.h"
#include "kmod/Types.h"

namespace deja::kmod {

class Tracee {
 public:
  /// PTRACE_SEIZE + PTRACE_INTERRUPT, then waits for the stop.
  explicit Tracee(HostPid tid);
  /// Adopts a task this thread has already seized and seen in its interrupt stop.
  enum Stopped { kStopped };
  Tracee(HostPid tid, Stopped);
  Tracee(Tracee&& o) noexcept;
  Tracee& operator=(Tracee&&) = delete;
  Tracee(const Tracee&) = delete;
  ~Tracee();

  HostPid tid() const { return tid_; }
  std::string name() const;  // "task 1234", for errors

  user_regs_struct regs() const;
  void set_regs(const user_regs_struct& r);
  std::string xstate() const;
  void set_xstate(const std::string& xs);
  uint64_t signal_mask() const;
  void set_signal_mask(uint64_t mask);
  /// Queued siginfo_t records, per thread or (shared = true) for the whole process.
  std::string pending_signals(bool shared) const;
  compat::PtraceRseqConfiguration rseq() const;

  /// Resumes with `request` (PTRACE_SYSCALL, ...) and waits for the next stop; returns the
  /// wait status. Throws if the task died.
  int resume_and_wait(int request);
  /// Lets the task run (PTRACE_CONT, no signal) without waiting for anything.
  void resume();
  /// PTRACE_INTERRUPT and waits for that stop; throws if the task died or stopped otherwise.
  void interrupt();

 private:
  HostPid tid_;
  bool attached_ = false;
};

/// Seizes every task of `tids` at once: all are interrupted before any is waited for, so they
/// stop in parallel, one scheduling delay in all instead of one per task (tens of ms on a busy
/// machine with a desktop's 30 threads). All or none: on an error the ones seized are let go.
std::vector<Tracee> seize_all(const std::vector<HostPid>& tids);

}  // namespace deja::kmod
