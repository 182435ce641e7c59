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

std::string capability_sets(const procfs::Status& status) {
  const auto& c = status.capabilities;
  return c[0] + " " + c[1] + " " + c[2] + " " + c[3] + " " + c[4];
}

void capture_task(CaptureContext& c, ProcessState& p) {
  if (!c.handed_over) {
    c.status = procfs::status(c.pid);
    c.stat = procfs::stat(c.pid);
  }
  const procfs::Status& st = c.status;
  c.vpid = VPid{st.ns_pid};
  c.comm = c.stat.comm;
  p.pid = c.vpid;
  p.host_pid = c.pid;
  p.comm = c.comm;
  auto parent = c.vpids.find(HostPid{st.ppid});
  p.ppid = parent == c.vpids.end() ? VPid{0} : parent->second;
  p.pgid = VPid{st.ns_pgid};
  p.sid = VPid{st.ns_sid};
  p.umask = st.umask;
  auto same = [](const std::array<uint32_t, 4>& ids) {
    return ids[1] == ids[0] && ids[2] == ids[0] && ids[3] == ids[0];
  };
  if (!same(st.uid) || !same(st.gid)) {
    auto text = [](const std::array<uint32_t, 4>& ids) {
      return std::to_string(ids[0]) + " " + std::to_string(ids[1]) + " " + std::to_string(ids[2]) +
             " " + std::to_string(ids[3]);
    };
    throw Error(c.name() + ": has differing real/effective/saved ids (uid " + text(st.uid) +
                ", gid " + text(st.gid) + "), not supported yet");
  }
  p.uid = st.uid[0];  // as the host sees them, until capture_task_files()
  p.gid = st.gid[0];
  p.no_new_privs = st.no_new_privs;
  p.capabilities = capability_sets(st);
  if (st.seccomp != 0)
    throw Error(c.name() + ": uses seccomp (mode " + std::to_string(st.seccomp) +
                "), not supported yet");
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
  std::string now = capability_sets(procfs::status(c.host));
  if (now != c.image.capabilities)
    throw Error(c.name() +
                ": capability sets (inheritable permitted effective bounding ambient) "
                "were " +
                c.image.capabilities + " but come back as " + now +
                "; reviving changed capabilities is not supported yet");
}

}  // namespace deja::kmod
