// Signal dispositions and queued signals (per thread and process-wide).
#include <signal.h>
#include <sys/syscall.h>

#include <cstdlib>
#include <cstring>

#include "kmod/ProcFs.h"
#include "kmod/objects/Objects.h"

namespace deja::kmod {

uint64_t non_default_signals(HostPid pid) {
  return non_default_signals(procfs::status(pid));
}

uint64_t non_default_signals(const procfs::Status& status) {
  return status.sig_caught | status.sig_ignored;
}

void capture_pending_signals(CaptureContext& c, ProcessState& p) {
  // Queued siginfo keeps sender PIDs as the kernel stored them: in the receiver's
  // namespace (kill) or as the sender wrote them (sigqueue), so they need no translation.
  for (size_t i = 0; i < c.threads.size(); ++i)
    p.threads[i].pending = c.threads[i].pending_signals(false);
  p.shared_pending = c.threads[0].pending_signals(true);
}

void ask_sigactions(const CaptureContext& c, std::vector<Query>& queries, ProcessState& p) {
  // Only signals that are caught or ignored can differ from the default in a way that
  // matters, plus SIGCHLD whose flags (SA_NOCLDWAIT, SA_NOCLDSTOP) act even at SIG_DFL;
  // asking for just those keeps the injected syscalls, and the downtime, few.
  uint64_t interesting = non_default_signals(c.status) | (1ull << (SIGCHLD - 1));
  for (int sig = 1; sig <= 64; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP || !(interesting & (1ull << (sig - 1)))) continue;
    queries.push_back({"rt_sigaction",
                       SYS_rt_sigaction,
                       {static_cast<uint64_t>(sig), 0, 0, 8},
                       2,
                       [&p, sig](long, const char* out) {
                         uint64_t ka[4];  // handler, flags, restorer, mask: the kernel's
                         std::memcpy(ka, out, sizeof ka);
                         if (ka[0] != 0 || ka[1] != 0 || ka[3] != 0)
                           p.sigactions.push_back({sig, ka[0], ka[1], ka[2], ka[3]});
                       }});
  }
}

namespace {

void restore_sigactions(FillContext& c) {
  std::vector<const SigactionState*> by_sig(65, nullptr);
  for (const SigactionState& s : c.image.sigactions)
    if (s.sig > 0 && s.sig <= 64) by_sig[static_cast<size_t>(s.sig)] = &s;
  // Set what the image lists, and reset what the skeleton (a fork of the container's init
  // code) may have changed; every other signal is at SIG_DFL in both already.
  uint64_t to_set = non_default_signals(c.host) | (1ull << (SIGCHLD - 1));
  for (const SigactionState& s : c.image.sigactions) to_set |= 1ull << (s.sig - 1);
  for (int sig = 1; sig <= 64; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP || !(to_set & (1ull << (sig - 1)))) continue;
    uint64_t ka[4] = {0, 0, 0, 0};  // SIG_DFL unless the image says otherwise
    if (const SigactionState* s = by_sig[static_cast<size_t>(sig)])
      ka[0] = s->handler, ka[1] = s->flags, ka[2] = s->restorer, ka[3] = s->mask;
    RemotePtr p =
        c.put(kScratchStruct, std::string_view(reinterpret_cast<const char*>(ka), sizeof ka));
    c.leader().check("rt_sigaction", SYS_rt_sigaction, static_cast<uint64_t>(sig), p.addr, 0, 8);
  }
}

// Queued signals go back through the thread itself: only a process may queue a siginfo
// claiming kernel or kill() origin to itself. They stay pending: the scopes block all.
void requeue(FillContext& c, RemoteSyscalls& rs, const std::string& infos, pid_t tid) {
  for (size_t off = 0; off + sizeof(siginfo_t) <= infos.size(); off += sizeof(siginfo_t)) {
    siginfo_t si;
    std::memcpy(&si, infos.data() + off, sizeof si);
    RemotePtr p = c.put(kScratchStruct, infos.substr(off, sizeof si));
    if (tid)
      rs.check("rt_tgsigqueueinfo", SYS_rt_tgsigqueueinfo, static_cast<uint64_t>(c.image.pid.value),
               static_cast<uint64_t>(tid), static_cast<uint64_t>(si.si_signo), p.addr);
    else
      rs.check("rt_sigqueueinfo", SYS_rt_sigqueueinfo, static_cast<uint64_t>(c.image.pid.value),
               static_cast<uint64_t>(si.si_signo), p.addr);
  }
}

}  // namespace

void restore_signals(FillContext& c) {
  restore_sigactions(c);
  requeue(c, c.leader(), c.image.shared_pending, 0);
  for (size_t i = 0; i < c.threads.size(); ++i)
    requeue(c, *c.scopes[i], c.image.threads[i].pending, c.image.threads[i].tid.value);
}

}  // namespace deja::kmod
