// Captures one live process whose threads are all held by Tracees: task attributes, threads,
// signal dispositions (through injected syscalls), mappings and their pages, and fds.
#pragma once

#include <map>
#include <set>
#include <vector>

#include "kmod/Tracee.h"
#include "kmod/TreeState.h"

namespace deja::kmod {

class ProcessCapture {
 public:
  /// `threads[0]` is the thread group leader. `vpids` maps every host PID of the tree to
  /// its PID in the session's namespace (parents outside the tree become 0).
  ProcessCapture(HostPid pid, std::vector<Tracee>& threads,
                 const std::map<HostPid, VPid>& vpids);

  /// Fills `out`; pipes met for the first time are appended to `pipes`.
  void run(ProcessState& out, std::vector<PipeState>& pipes, std::set<uint64_t>& seen_pipes);

 private:
  std::string name() const;  // "process 12 (comm, host pid 3456)"
  std::string relative(const std::string& path, const std::string& what) const;
  void task_attributes(ProcessState& p);
  void threads(ProcessState& p);
  void injected(ProcessState& p);
  void mappings(ProcessState& p);
  void pages(ProcessState& p);
  void files(ProcessState& p, std::vector<PipeState>& pipes, std::set<uint64_t>& seen_pipes);
  PipeState pipe_contents(int fd, uint64_t id) const;

  HostPid pid_;
  std::vector<Tracee>& threads_;
  const std::map<HostPid, VPid>& vpids_;
  std::string root_;  // the process's root as this process sees it
  std::string comm_;
  VPid vpid_;
  uint64_t vdso_start_ = 0, vdso_end_ = 0;
};

}  // namespace deja::kmod
