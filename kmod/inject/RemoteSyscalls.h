// Runs system calls inside a stopped tracee: points its instruction pointer at a `syscall`
// instruction (found in its vDSO), steps through the syscall-entry and -exit stops and reads
// the result. (Not single-stepping: its trap is a forced SIGTRAP, which resets a SIGTRAP
// handler to SIG_DFL when the signal is blocked, as it is here.) While the scope lives all
// signals are blocked so none is delivered in the middle; when it ends the thread's
// registers and signal mask are put back from an interrupt stop, so that the kernel restarts
// an interrupted syscall (or turns it into EINTR for a signal that came meanwhile) as if
// nothing had been injected. A thread that stepped through syscalls is first brought from
// its syscall-exit stop into an interrupt stop for that.
//
// From the engine's pages, when the engine thread runs boosted (base/ThreadPriority.h), the
// thread also runs one real-time priority above the engine while the scope lives: a thread of
// ordinary priority waited a scheduling round for each batch (several ms on a loaded machine,
// with the engine's two threads holding both cores). Its scheduling is set back when the
// scope ends, or by the stub's restore should the engine die first.
#pragma once

#include <sys/user.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kmod/Types.h"
#include "kmod/inject/Parasite.h"
#include "kmod/inject/Tracee.h"

namespace deja::kmod {

class RemoteSyscalls {
 public:
  RemoteSyscalls(Tracee& tracee, RemotePtr syscall_insn);
  /// Runs the syscalls from the engine's pages (Parasite.h): should the tracer die at any
  /// point while the scope lives, the thread restores its own registers and signal mask.
  RemoteSyscalls(Tracee& tracee, const Parasite& parasite);
  RemoteSyscalls(const RemoteSyscalls&) = delete;
  RemoteSyscalls& operator=(const RemoteSyscalls&) = delete;
  ~RemoteSyscalls();

  /// Runs one syscall; returns the raw result (-errno on failure).
  long call(long nr, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0, uint64_t a4 = 0,
            uint64_t a5 = 0, uint64_t a6 = 0);
  /// A syscall of a batch: its number and six arguments.
  struct Call {
    long nr;
    std::array<uint64_t, 6> args;
  };
  /// Runs `calls` one after the other and returns their raw results. From the engine's
  /// pages the thread runs them all on its own, without a ptrace stop between them (at most
  /// DEJA_BATCH_MAX); otherwise one by one with call().
  std::vector<long> run(const std::vector<Call>& calls);
  /// run() in two halves, from the engine's pages only: start() sets the thread off on
  /// `calls` and returns at once, so the engine can turn to other processes meanwhile;
  /// finish() waits for the results. Done, the stub waits `wait_ns` at a time (40 times)
  /// for the engine before it restores the thread by itself; finish() throws if it did.
  void start(const std::vector<Call>& calls, long wait_ns);
  std::vector<long> finish();
  /// Whether the thread has run every call start() gave it (finish() then returns at once).
  bool batch_done() const;
  /// The stub's wait for a batch collected at once.
  static constexpr long kBatchWaitNs = 2'500'000;
  /// Like call() but throws SysError naming `what` on a negative result.
  long check(const char* what, long nr, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0,
             uint64_t a4 = 0, uint64_t a5 = 0, uint64_t a6 = 0);

  /// The syscall instruction moved (the vDSO was mremap'ed).
  void set_syscall_insn(RemotePtr insn) { insn_ = insn; }
  /// What the thread gets when the scope ends, instead of what it had at the start (revive
  /// replaces a skeleton's state with the image's). Restart fix-ups still apply.
  void set_final_state(const user_regs_struct& regs, uint64_t sigmask);

 private:
  /// The thread's saved registers pointed at injected `code`, with no syscall to restart.
  user_regs_struct pointed_at(RemotePtr code) const;
  /// `struct sched_attr` of sched_setattr(2), which glibc does not declare.
  struct SchedAttr {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
    uint32_t util_min, util_max;
  };
  /// Raises the thread (parked on the stub) above the engine, its scheduling saved in the
  /// engine's pages first; or records there that it was not raised.
  void raise_priority();

  Tracee& tracee_;
  RemotePtr insn_;
  std::optional<Parasite> parasite_;
  user_regs_struct saved_;
  uint64_t saved_mask_;
  bool ran_ = false;
  bool at_syscall_stop_ = false;  // the thread's last stop: a syscall stop of call()
  size_t started_ = 0;  // calls of a batch start()ed and not finish()ed
  bool left_by_itself_ = false;  // the stub restored the thread before finish() took it
  bool fresh_task_ = false;
  std::optional<SchedAttr> raised_from_;  // set: raised, and this is what it had
};

/// `result`, the raw result of a syscall injected into `object`; throws SysError naming
/// "injected `what`" when it is an error (-4095..-1).
long check_injected(long result, const std::string& what, const std::string& object);

/// Registers as the thread must resume after it leaves a syscall-exit stop, for registers
/// captured at a ptrace interrupt. `fresh_task`: the thread is a revived one with no kernel
/// restart block, so -ERESTART_RESTARTBLOCK becomes -EINTR (what a signal would have done).
user_regs_struct apply_syscall_restart(user_regs_struct r, bool fresh_task);

/// Finds a `syscall` instruction in the vDSO mapped at [start, end) of `pid`.
RemotePtr find_syscall_insn(HostPid pid, uint64_t vdso_start, uint64_t vdso_end);

}  // namespace deja::kmod
