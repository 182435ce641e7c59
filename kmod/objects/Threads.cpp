// The threads of a process: registers, xsave, signal mask, comm, rseq, robust list,
// clear_child_tid, alternate signal stack, scheduling.
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "base/Error.h"
#include "kmod/KernelCompat.h"
#include "kmod/ProcFs.h"
#include "kmod/objects/Objects.h"

namespace deja::kmod {

void capture_threads(CaptureContext& c, ProcessState& p) {
  for (Tracee& t : c.threads) {
    ThreadState th;
    // get_robust_list works from outside for a tracer; the list head lives in the thread's
    // TLS and the kernel walks it when the thread exits.
    size_t len = 0;
    if (::syscall(SYS_get_robust_list, t.tid().value, &th.robust_list, &len) < 0)
      throw_errno("get_robust_list", t.name());
    th.robust_list_len = len;
    // The leader's status and stat are the process's, read already (capture_task).
    bool leader = t.tid() == c.pid;
    th.tid = VPid{leader ? c.status.ns_pid : procfs::task_status(c.pid, t.tid()).ns_pid};
    // Scheduling, readable from outside: nice, rt priority and policy, and the CPU affinity
    // mask.
    procfs::Stat stat = leader ? c.stat : procfs::task_stat(c.pid, t.tid());
    th.comm = stat.comm;
    th.nice = stat.nice;
    th.rt_priority = stat.rt_priority;
    th.policy = stat.policy;
    cpu_set_t cpus;
    if (::sched_getaffinity(t.tid().value, sizeof cpus, &cpus) < 0)
      throw_errno("sched_getaffinity", t.name());
    th.affinity.assign(reinterpret_cast<const char*>(&cpus), sizeof cpus);
    th.regs = t.regs();
    th.xsave = t.xstate();
    th.sigmask = t.signal_mask();
    auto rseq = t.rseq();
    th.rseq_addr = rseq.rseq_abi_pointer;
    th.rseq_len = rseq.rseq_abi_size;
    th.rseq_sig = rseq.signature;
    p.threads.push_back(std::move(th));
  }
}

void ask_thread(const CaptureContext& c, std::vector<Query>& queries, ThreadState& th) {
  queries.push_back({"prctl(PR_GET_TID_ADDRESS)",
                     SYS_prctl,
                     {PR_GET_TID_ADDRESS},
                     1,
                     [&th](long, const char* out) {
                       std::memcpy(&th.clear_child_tid, out, sizeof th.clear_child_tid);
                     }});
  queries.push_back({"sigaltstack", SYS_sigaltstack, {0}, 1, [&c, &th](long, const char* out) {
                       stack_t ss;
                       std::memcpy(&ss, out, sizeof ss);
                       th.altstack_sp = reinterpret_cast<uint64_t>(ss.ss_sp);
                       th.altstack_flags = static_cast<uint32_t>(ss.ss_flags);
                       th.altstack_size = ss.ss_size;
                       if (ss.ss_flags & SS_ONSTACK)
                         throw Error(c.name() + ": thread " + std::to_string(th.tid.value) +
                                     " is running on its alternate signal stack; retry later");
                     }});
}

void clear_skeleton_rseq(FillContext& c) {
  for (size_t i = 0; i < c.threads.size(); ++i) {
    // A forked skeleton inherited glibc's rseq registration; the kernel would keep writing
    // to that area after its memory is replaced.
    auto rseq = c.threads[i].rseq();
    if (rseq.rseq_abi_pointer)
      c.scopes[i]->check("rseq unregister", SYS_rseq, rseq.rseq_abi_pointer, rseq.rseq_abi_size,
                         compat::kRseqFlagUnregister, rseq.signature);
  }
}

void restore_threads(FillContext& c) {
  for (size_t i = 0; i < c.threads.size(); ++i) {
    RemoteSyscalls& rs = *c.scopes[i];
    const ThreadState& t = c.image.threads[i];
    rs.check("set_tid_address", SYS_set_tid_address, t.clear_child_tid);
    if (i > 0 && !t.comm.empty()) {
      RemotePtr tc = c.put_string(kScratchPath, t.comm);
      rs.check("prctl(PR_SET_NAME)", SYS_prctl, PR_SET_NAME, tc.addr);
    }
    rs.check("set_robust_list", SYS_set_robust_list, t.robust_list, t.robust_list_len);
    stack_t ss{};
    ss.ss_sp = reinterpret_cast<void*>(t.altstack_sp);
    ss.ss_flags = static_cast<int>(t.altstack_flags & ~static_cast<uint32_t>(SS_ONSTACK));
    ss.ss_size = t.altstack_size;
    RemotePtr sp =
        c.put(kScratchStruct, std::string_view(reinterpret_cast<const char*>(&ss), sizeof ss));
    rs.check("sigaltstack", SYS_sigaltstack, sp.addr, 0);
    if (t.rseq_addr) rs.check("rseq register", SYS_rseq, t.rseq_addr, t.rseq_len, 0, t.rseq_sig);
  }
}

void restore_scheduling(FillContext& c) {
  // From outside, on the host thread ids: no injection needed.
  for (size_t i = 0; i < c.threads.size(); ++i) {
    const ThreadState& t = c.image.threads[i];
    pid_t tid = c.threads[i].tid().value;
    std::string what = c.name() + " thread " + std::to_string(t.tid.value);
    sched_param sp{};
    sp.sched_priority = static_cast<int>(t.rt_priority);
    // SCHED_RESET_ON_FORK (0x40000000) is reported in the policy field too.
    if (::sched_setscheduler(tid, static_cast<int>(t.policy), &sp) < 0)
      throw_errno("sched_setscheduler", what);
    if (::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), t.nice) < 0)
      throw_errno("setpriority", what);
    if (t.affinity.size() == sizeof(cpu_set_t) &&
        ::sched_setaffinity(tid, sizeof(cpu_set_t),
                            reinterpret_cast<const cpu_set_t*>(t.affinity.data())) < 0)
      throw_errno("sched_setaffinity", what);
  }
}

void restore_registers(FillContext& c) {
  for (size_t i = 0; i < c.threads.size(); ++i) {
    c.threads[i].set_xstate(c.image.threads[i].xsave);
    c.scopes[i]->set_final_state(c.image.threads[i].regs, c.image.threads[i].sigmask);
  }
}

}  // namespace deja::kmod
