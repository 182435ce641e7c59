#include "kmod/inject/RemoteSyscalls.h"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>
#include <ctime>

#include "base/Error.h"
#include "kmod/inject/Parasite.h"
#include "kmod/inject/RemoteMemory.h"

namespace deja::kmod {

user_regs_struct apply_syscall_restart(user_regs_struct r, bool fresh_task) {
  if (static_cast<long>(r.orig_rax) < 0) return r;  // not stopped inside a syscall
  long rax = static_cast<long>(r.rax);
  switch (-rax) {
    case compat::kERestartSys:
    case compat::kERestartNoIntr:
    case compat::kERestartNoHand:
      r.rax = r.orig_rax;
      r.rip -= 2;  // back onto the 2-byte `syscall` instruction
      break;
    case compat::kERestartRestartBlock:
      if (fresh_task) {
        r.rax = static_cast<unsigned long long>(-EINTR);
      } else {
        r.rax = SYS_restart_syscall;
        r.rip -= 2;
      }
      break;
    default:
      break;
  }
  return r;
}

RemotePtr find_syscall_insn(HostPid pid, uint64_t start, uint64_t end) {
  RemoteMemory mem(pid);
  std::string code = mem.read(RemotePtr{start}, end - start);
  for (size_t i = 0; i + 1 < code.size(); ++i)
    if (code[i] == '\x0f' && code[i + 1] == '\x05') return RemotePtr{start + i};
  throw Error("no syscall instruction in the vDSO of process " + std::to_string(pid.value));
}

RemoteSyscalls::RemoteSyscalls(Tracee& tracee, RemotePtr insn)
    : tracee_(tracee), insn_(insn), saved_(tracee.regs()), saved_mask_(tracee.signal_mask()) {
  tracee_.set_signal_mask(~0ull);
}

RemoteSyscalls::RemoteSyscalls(Tracee& tracee, const Parasite& parasite)
    : tracee_(tracee),
      insn_(parasite.entry()),
      parasite_(parasite),
      saved_(tracee.regs()),
      saved_mask_(tracee.signal_mask()),
      ran_(true) {
  // What the thread returns to, whoever puts it back: with an interrupted syscall already
  // turned into its restart, as the destructor would.
  user_regs_struct back = apply_syscall_restart(saved_, false);
  uint64_t record[] = {back.rax, back.rbx, back.rcx, back.rdx, back.rsi, back.rdi,
                       back.rbp, back.r8,  back.r9,  back.r10, back.r11, back.r12,
                       back.r13, back.r14, back.r15, back.rsp, back.rip, back.eflags,
                       saved_mask_};
  static_assert(sizeof record == DEJA_SAVED_END - DEJA_SAVED_RAX);
  write_memory(tracee.tid(), parasite.at(DEJA_SAVED_RAX),
               std::string_view(reinterpret_cast<const char*>(record), sizeof record));
  // From here until the destructor the thread sits on the stub (at the restore, or at the
  // entry with a syscall's registers), so a release at any moment lands in the restore.
  tracee_.set_regs(pointed_at(parasite.restore()));
  tracee_.set_signal_mask(~0ull);
  raise_priority();
}

void RemoteSyscalls::raise_priority() {
  static_assert(sizeof(SchedAttr) == DEJA_SAVED_SCHED_END - DEJA_SAVED_SCHED);
  struct {
    uint64_t set = 0;
    SchedAttr attr{};
  } saved;
  static_assert(sizeof saved == DEJA_SAVED_SCHED_END - DEJA_SAVED_SCHED_SET);
  pid_t tid = tracee_.tid().value;
  // Only threads of ordinary scheduling: a real-time or deadline thread keeps its own.
  bool raise = ::sched_getscheduler(0) == SCHED_FIFO &&
               ::syscall(SYS_sched_getattr, tid, &saved.attr, sizeof saved.attr, 0) == 0 &&
               (saved.attr.policy == SCHED_OTHER || saved.attr.policy == SCHED_BATCH);
  saved.set = raise;
  write_memory(tracee_.tid(), parasite_->at(DEJA_SAVED_SCHED_SET),
               std::string_view(reinterpret_cast<const char*>(&saved), sizeof saved));
  if (!raise) return;
  SchedAttr fifo{};
  fifo.size = sizeof fifo;
  fifo.policy = SCHED_FIFO;
  fifo.priority = static_cast<uint32_t>(::sched_get_priority_min(SCHED_FIFO) + 1);
  // Best effort, as the engine's own boost: without it the thread just waits its turn.
  if (::syscall(SYS_sched_setattr, tid, &fifo, 0) == 0) raised_from_ = saved.attr;
}

user_regs_struct RemoteSyscalls::pointed_at(RemotePtr code) const {
  user_regs_struct r = saved_;
  r.rip = code.addr;
  // orig_rax = -1: the kernel must not apply its own restart logic to these registers when
  // the thread leaves the interrupt stop.
  r.orig_rax = static_cast<unsigned long long>(-1);
  return r;
}

RemoteSyscalls::~RemoteSyscalls() {
  try {
    // A batch still running: take the thread back first (it must be stopped to restore).
    if (started_) finish();
  } catch (const Error&) {
  }
  if (left_by_itself_) return;  // the stub set back its scheduling too
  // Still parked on the stub: should this fail half-way, its restore sets it back.
  if (raised_from_) ::syscall(SYS_sched_setattr, tracee_.tid().value, &*raised_from_, 0);
  try {
    user_regs_struct r = saved_;
    if (fresh_task_) {
      // A revived thread has no restart block of its own for the kernel to use.
      if (ran_) r = apply_syscall_restart(saved_, true);
    } else if (at_syscall_stop_) {
      // Leaving a syscall stop, the kernel would hand an interrupted syscall's -ERESTART*
      // to user space; leaving an interrupt stop it restarts the syscall itself, or makes it
      // EINTR for a signal that came meanwhile. A restart by hand (back onto the `syscall`
      // instruction) would let a signal sent before the thread runs again be handled in
      // user space and then restart the syscall: pause() would sleep through it.
      tracee_.set_regs(saved_);
      tracee_.stop_in_signal_path();
    }
    // The mask first: until the registers are back the thread stays on the stub, whose
    // restore sets the mask too.
    tracee_.set_signal_mask(saved_mask_);
    tracee_.set_regs(r);
  } catch (const Error&) {
    // The task died; nothing left to put back.
  }
}

void RemoteSyscalls::set_final_state(const user_regs_struct& regs, uint64_t sigmask) {
  saved_ = regs;
  saved_mask_ = sigmask;
  fresh_task_ = true;
}

long RemoteSyscalls::call(long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
                          uint64_t a6) {
  user_regs_struct r = pointed_at(insn_);
  r.rax = static_cast<unsigned long long>(nr);
  r.rdi = a1;
  r.rsi = a2;
  r.rdx = a3;
  r.r10 = a4;
  r.r8 = a5;
  r.r9 = a6;
  tracee_.set_regs(r);
  ran_ = true;
  at_syscall_stop_ = true;
  for (int stop = 0; stop < 2; ++stop) {
    int status = tracee_.resume_and_wait(PTRACE_SYSCALL);
    if (WSTOPSIG(status) != (SIGTRAP | 0x80))
      throw Error(tracee_.name() + ": unexpected stop (signal " + std::to_string(WSTOPSIG(status)) +
                  ") during injected syscall " + std::to_string(nr));
  }
  return static_cast<long>(tracee_.regs().rax);
}

std::vector<long> RemoteSyscalls::run(const std::vector<Call>& calls) {
  if (!parasite_) {
    std::vector<long> results;
    for (const Call& c : calls)
      results.push_back(call(c.nr, c.args[0], c.args[1], c.args[2], c.args[3], c.args[4], c.args[5]));
    return results;
  }
  start(calls, kBatchWaitNs);
  return finish();
}

void RemoteSyscalls::start(const std::vector<Call>& calls, long wait_ns) {
  DEJA_CHECK(parasite_ && started_ == 0);
  DEJA_CHECK(calls.size() <= DEJA_BATCH_MAX);
  // Count, done, the stub's wait between looks, then the entries.
  std::vector<uint64_t> block(
      (DEJA_BATCH_ENTRIES - DEJA_BATCH_COUNT + calls.size() * DEJA_BATCH_ENTRY_SIZE) / 8, 0);
  block[0] = calls.size();
  block[(DEJA_BATCH_WAIT - DEJA_BATCH_COUNT) / 8 + 1] = static_cast<uint64_t>(wait_ns);
  for (size_t i = 0; i < calls.size(); ++i) {
    uint64_t* e = &block[(DEJA_BATCH_ENTRIES - DEJA_BATCH_COUNT + i * DEJA_BATCH_ENTRY_SIZE) / 8];
    e[0] = static_cast<uint64_t>(calls[i].nr);
    for (size_t a = 0; a < 6; ++a) e[1 + a] = calls[i].args[a];
  }
  write_memory(tracee_.tid(), parasite_->at(DEJA_BATCH_COUNT),
               std::string_view(reinterpret_cast<const char*>(block.data()), block.size() * 8));
  tracee_.set_regs(pointed_at(parasite_->at(DEJA_PARASITE_BATCH_ENTRY)));
  tracee_.resume();
  started_ = calls.size();
}

bool RemoteSyscalls::batch_done() const {
  DEJA_CHECK(started_ > 0);
  uint64_t done = 0;
  read_memory(tracee_.tid(), parasite_->at(DEJA_BATCH_DONE), reinterpret_cast<char*>(&done),
              sizeof done);
  return done >= started_;
}

std::vector<long> RemoteSyscalls::finish() {
  DEJA_CHECK(started_ > 0);
  size_t n = std::exchange(started_, 0);
  // The thread runs the batch on its own and then waits; look at its count until it is done,
  // then take it back. Sleeping between looks (with a timer slack of 1 us) rather than
  // spinning leaves the CPU to it and to the snapshot beside; the naps grow from 5 to 80 us,
  // so that a boosted engine (base/ThreadPriority.h) waiting on a thread that is not running
  // yet does not take its core back from it every few microseconds.
  static thread_local bool precise = ::prctl(PR_SET_TIMERSLACK, 1000) == 0;
  (void)precise;
  auto since = std::chrono::steady_clock::now();
  long nap_ns = 5000;
  for (uint64_t done = 0;;) {
    read_memory(tracee_.tid(), parasite_->at(DEJA_BATCH_DONE),
                reinterpret_cast<char*>(&done), sizeof done);
    if (done >= n) break;
    if (std::chrono::steady_clock::now() - since > std::chrono::seconds(1)) {
      tracee_.interrupt();
      throw Error(tracee_.name() + ": injected syscalls did not finish within 1 s");
    }
    timespec nap{0, nap_ns};
    ::nanosleep(&nap, nullptr);
    nap_ns = std::min(nap_ns * 2, 80'000L);
  }
  tracee_.interrupt();
  at_syscall_stop_ = false;
  // Out of patience, the stub puts the thread back by itself and lets it run on: then it did
  // run while the engine held the tree, and what was read of it may be stale.
  uint64_t rip = tracee_.regs().rip;
  if (rip < parasite_->at(0).addr || rip >= parasite_->at(DEJA_PARASITE_PAGE).addr) {
    // Its registers and mask are its own again: putting the saved ones back would rewind it.
    left_by_itself_ = true;
    throw Error(tracee_.name() + ": left the engine's pages by itself before its injected "
                                 "syscalls were collected");
  }
  // Parked on the restore again until the scope ends.
  tracee_.set_regs(pointed_at(parasite_->restore()));
  std::vector<uint64_t> out(n * DEJA_BATCH_ENTRY_SIZE / 8);
  read_memory(tracee_.tid(), parasite_->at(DEJA_BATCH_ENTRIES),
              reinterpret_cast<char*>(out.data()), out.size() * 8);
  std::vector<long> results;
  for (size_t i = 0; i < n; ++i)
    results.push_back(static_cast<long>(out[i * DEJA_BATCH_ENTRY_SIZE / 8 + 7]));
  return results;
}

long RemoteSyscalls::check(const char* what, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
                           uint64_t a4, uint64_t a5, uint64_t a6) {
  return check_injected(call(nr, a1, a2, a3, a4, a5, a6), what, tracee_.name());
}

long check_injected(long result, const std::string& what, const std::string& object) {
  if (result < 0 && result > -4096)
    throw_errno("injected " + what, object, static_cast<int>(-result));
  return result;
}

}  // namespace deja::kmod
