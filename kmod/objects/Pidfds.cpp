// pidfds (pidfd_open, clone's CLONE_PIDFD) of processes of the tree: revived as pidfd_open
// of the same PID in the branch's PID namespace. A pidfd of a process outside the session,
// or of one already reaped, is refused by name.
#include <sys/syscall.h>

#include <cstdlib>

#include "base/Error.h"
#include "kmod/ProcessFill.h"
#include "kmod/objects/ObjectsInternal.h"

namespace deja::kmod {

void ObjectCapture::capture_pidfd(const FdSite& site, uint64_t id) {
  const std::string& info = objects::fdinfo_text(site);
  std::string pid = objects::fdinfo_value(info, "Pid:");
  if (pid.empty()) throw Error(site.what() + ": its fdinfo lacks \"Pid:\"");
  int host = std::atoi(pid.c_str());
  if (host <= 0)
    throw Error(site.what() + " is a pidfd of a process that has exited and been reaped, not "
                              "supported yet");
  VPid v = to_vpid(host);
  if (!v.value)
    throw Error(site.what() + " is a pidfd of host process " + pid +
                ", which is outside the session; not supported");
  tree_.pidfds.push_back({id, v});
}

void ObjectRevive::create_pidfd(const PidfdState& pf) {
  ProcessFill& h = holder_of(FdKind::kPidfd, pf.id);
  long fd = h.syscalls().call(SYS_pidfd_open, static_cast<uint64_t>(pf.pid.value), 0);
  held_[{FdKind::kPidfd, pf.id}] = {h.vpid(), objects::park(h, fd, min_fd_, "pidfd_open")};
}

}  // namespace deja::kmod
