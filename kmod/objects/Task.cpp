// The task itself: ids, credentials, root/cwd/exe, umask, comm, rlimits, personality, prctl
// state, interval timers, capabilities.
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "base/Error.h"
#include "base/Files.h"
#include "kmod/ProcFs.h"
#include "kmod/objects/Objects.h"

namespace deja::kmod {

std::string capability_sets(std::map<std::string, std::string>& status) {
  return status["CapInh"] + " " + status["CapPrm"] + " " + status["CapEff"] + " " +
         status["CapBnd"] + " " + status["CapAmb"];
}

void capture_task(CaptureContext& c, ProcessState& p) {
  if (c.status.empty()) c.status = procfs::status(c.pid);
  auto& st = c.status;
  c.vpid = VPid{procfs::innermost(st["NSpid"])};
  if (!c.have_stat) c.stat = procfs::stat(c.pid);
  c.comm = c.stat.comm;
  p.pid = c.vpid;
  p.host_pid = c.pid;
  p.comm = c.comm;
  auto parent = c.vpids.find(HostPid{std::atoi(st["PPid"].c_str())});
  p.ppid = parent == c.vpids.end() ? VPid{0} : parent->second;
  p.pgid = VPid{procfs::innermost(st["NSpgid"])};
  p.sid = VPid{procfs::innermost(st["NSsid"])};
  p.umask = static_cast<uint32_t>(std::strtoul(st["Umask"].c_str(), nullptr, 8));
  unsigned ru, eu, su, fu, rg, eg, sg, fg;
  if (std::sscanf(st["Uid"].c_str(), "%u %u %u %u", &ru, &eu, &su, &fu) != 4 ||
      std::sscanf(st["Gid"].c_str(), "%u %u %u %u", &rg, &eg, &sg, &fg) != 4)
    throw Error(c.name() + ": cannot parse Uid/Gid in " + procfs::path(c.pid, "status"));
  if (ru != eu || ru != su || ru != fu || rg != eg || rg != sg || rg != fg)
    throw Error(c.name() + ": has differing real/effective/saved ids (uid " + st["Uid"] + ", gid " +
                st["Gid"] + "), not supported yet");
  p.uid = ru;  // as the host sees them, until capture_task_files()
  p.gid = rg;
  p.no_new_privs = static_cast<uint32_t>(std::atoi(st["NoNewPrivs"].c_str()));
  p.capabilities = capability_sets(st);
  if (st.count("Seccomp") && st["Seccomp"] != "0")
    throw Error(c.name() + ": uses seccomp (mode " + st["Seccomp"] + "), not supported yet");
  c.root = procfs::read_link(procfs::path(c.pid, "root"));
  p.root = c.root;
}

void capture_task_files(CaptureContext& c, ProcessState& p) {
  // As the session sees them: revive sets them from inside it.
  p.uid = procfs::id_inside(c.pid, "uid_map", p.uid);
  p.gid = procfs::id_inside(c.pid, "gid_map", p.gid);
  p.cwd = c.relative(procfs::read_link(procfs::path(c.pid, "cwd")), "working directory");
  p.exe = c.relative(procfs::read_link(procfs::path(c.pid, "exe")), "executable");
  // /proc/PID/limits rather than prlimit(2), which is refused across differing credentials.
  p.rlimits = procfs::limits(c.pid);
  if (p.rlimits.size() != RLIM_NLIMITS)
    throw Error(c.name() + ": " + procfs::path(c.pid, "limits") + " lists " +
                std::to_string(p.rlimits.size()) + " limits, expected " +
                std::to_string(RLIM_NLIMITS));
}

void ask_task(std::vector<Query>& queries, ProcessState& p) {
  // Asked rather than read from /proc/PID/personality: the process runs these calls anyway.
  queries.push_back({"personality", SYS_personality, {0xffffffff}, -1, [&p](long r, const char*) {
                       p.personality = static_cast<uint64_t>(r);
                     }});
  queries.push_back(
      {"prctl(PR_GET_DUMPABLE)", SYS_prctl, {PR_GET_DUMPABLE}, -1, [&p](long r, const char*) {
         p.dumpable = static_cast<uint32_t>(r);
       }});
  queries.push_back({"prctl(PR_GET_CHILD_SUBREAPER)",
                     SYS_prctl,
                     {PR_GET_CHILD_SUBREAPER},
                     1,
                     [&p](long, const char* out) {
                       int sub;
                       std::memcpy(&sub, out, sizeof sub);
                       p.child_subreaper = static_cast<uint32_t>(sub);
                     }});
  // Interval timers, with the time left (getitimer reports what remains).
  for (int which = 0; which < 3; ++which)
    queries.push_back({"getitimer",
                       SYS_getitimer,
                       {static_cast<uint64_t>(which)},
                       1,
                       [&p](long, const char* out) { p.itimers.append(out, sizeof(itimerval)); }});
}

void restore_task(FillContext& c) {
  const ProcessState& image = c.image;
  RemotePtr cwd = c.put_string(kScratchPath, image.cwd);
  c.leader().check("chdir", SYS_chdir, cwd.addr);
  c.leader().check("umask", SYS_umask, image.umask);
  RemotePtr comm = c.put_string(kScratchPath, image.comm);
  c.leader().check("prctl(PR_SET_NAME)", SYS_prctl, PR_SET_NAME, comm.addr);
  for (size_t r = 0; r < image.rlimits.size() && r < RLIM_NLIMITS; ++r) {
    RemotePtr rl =
        c.put(kScratchStruct,
              std::string_view(reinterpret_cast<const char*>(image.rlimits[r].data()), 16));
    c.leader().check("prlimit64", SYS_prlimit64, 0, r, rl.addr, 0);
  }
}

void restore_itimers(FillContext& c) {
  const std::string& itimers = c.image.itimers;
  for (size_t which = 0; which < 3 && itimers.size() == 3 * sizeof(itimerval); ++which) {
    RemotePtr it = c.put(kScratchStruct, std::string_view(itimers).substr(which * sizeof(itimerval),
                                                                          sizeof(itimerval)));
    c.leader().check("setitimer", SYS_setitimer, which, it.addr, 0);
  }
}

namespace {

// The captured capability sets, as five 64-bit masks (inheritable permitted effective
// bounding ambient); empty when the image holds none.
std::vector<uint64_t> capability_masks(const std::string& sets) {
  std::vector<uint64_t> masks;
  std::istringstream in(sets);
  std::string word;
  while (in >> word) masks.push_back(std::strtoull(word.c_str(), nullptr, 16));
  if (!masks.empty() && masks.size() != 5)
    throw Error("image: capability sets '" + sets + "' are not five masks");
  return masks;
}

// A confined session (recorder/ContainerView.h) dropped capabilities from its bounding set:
// drop the same in every thread of the skeleton, which still has them all. Before setresuid,
// which needs none of them but leaves the bounding set as it is.
void restore_bounding_set(FillContext& c, const std::vector<uint64_t>& masks) {
  int last = std::atoi(read_file("/proc/sys/kernel/cap_last_cap").c_str());
  for (auto& rs : c.scopes)
    for (int cap = 0; cap <= last; ++cap)
      if (!(masks[3] & (uint64_t{1} << cap)))
        rs->check("prctl(PR_CAPBSET_DROP)", SYS_prctl, PR_CAPBSET_DROP, cap);
}

// Root's permitted, effective and inheritable sets as they were (a uid other than 0 lost
// them all at setresuid, as the original did).
void restore_root_capabilities(FillContext& c, const std::vector<uint64_t>& masks) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  for (int i = 0; i < 2; ++i) {
    data[i].inheritable = static_cast<uint32_t>(masks[0] >> (32 * i));
    data[i].permitted = static_cast<uint32_t>(masks[1] >> (32 * i));
    data[i].effective = static_cast<uint32_t>(masks[2] >> (32 * i));
  }
  std::string blob(reinterpret_cast<const char*>(&header), sizeof header);
  blob.append(reinterpret_cast<const char*>(data), sizeof data);
  RemotePtr args = c.put(kScratchStruct, blob);
  for (auto& rs : c.scopes)
    rs->check("capset", SYS_capset, args.addr, args.addr + sizeof header);
}

}  // namespace

void restore_credentials(FillContext& c) {
  const ProcessState& image = c.image;
  std::vector<uint64_t> caps = capability_masks(image.capabilities);
  if (!caps.empty()) restore_bounding_set(c, caps);
  // Credentials are per thread in the kernel. Changing them resets the dumpable flag, so
  // they go first and the flags after.
  if (image.uid != 0 || image.gid != 0)
    for (auto& rs : c.scopes) {
      rs->check("setresgid", SYS_setresgid, image.gid, image.gid, image.gid);
      rs->check("setresuid", SYS_setresuid, image.uid, image.uid, image.uid);
    }
  else if (!caps.empty())
    restore_root_capabilities(c, caps);
  c.leader().check("personality", SYS_personality, image.personality);
  c.leader().check("prctl(PR_SET_DUMPABLE)", SYS_prctl, PR_SET_DUMPABLE, image.dumpable);
  c.leader().check("prctl(PR_SET_CHILD_SUBREAPER)", SYS_prctl, PR_SET_CHILD_SUBREAPER,
                   image.child_subreaper);
  if (image.no_new_privs)
    c.leader().check("prctl(PR_SET_NO_NEW_PRIVS)", SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

void check_capabilities(FillContext& c) {
  // Bounding, permitted, effective and inheritable sets are restored; ambient capabilities
  // follow from the credentials (none in a session). Anything else is refused here rather
  // than revived different.
  if (c.image.capabilities.empty()) return;
  auto st = procfs::status(c.host);
  std::string now = capability_sets(st);
  if (now != c.image.capabilities)
    throw Error(c.name() +
                ": capability sets (inheritable permitted effective bounding ambient) "
                "were " +
                c.image.capabilities + " but come back as " + now +
                "; reviving changed capabilities is not supported yet");
}

}  // namespace deja::kmod
