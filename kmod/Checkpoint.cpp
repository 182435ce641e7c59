#include "kmod/Checkpoint.h"

#include <cstdlib>
#include <deque>
#include <map>
#include <set>

#include "base/Error.h"
#include "base/Files.h"
#include "kmod/ProcFs.h"
#include "kmod/ProcessCapture.h"
#include "kmod/Tracee.h"
#include "kmod/TreeCodec.h"

namespace deja::kmod {

namespace {

struct Found {
  HostPid pid;
  bool zombie = false;
  int exit_status = 0;
};

// Walks the tree breadth first, so parents always precede their children in the image.
std::vector<Found> find_processes(HostPid init) {
  std::vector<Found> out;
  std::deque<HostPid> todo{init};
  std::set<HostPid> seen;
  while (!todo.empty()) {
    HostPid p = todo.front();
    todo.pop_front();
    if (!seen.insert(p).second) continue;
    auto f = procfs::stat_fields(p);
    if (f.size() < 53) throw Error("/proc/" + std::to_string(p.value) + "/stat too short");
    Found x{p, f[3] == "Z", std::atoi(f[52].c_str())};
    if (f[3] == "X") continue;  // already reaped, about to vanish
    out.push_back(x);
    if (x.zombie) continue;
    for (HostPid c : procfs::children(p)) todo.push_back(c);
  }
  return out;
}

// Thaws the group for as long as it lives and freezes it again on the way out, success or
// not. Declared after the Tracees, so it refreezes before they detach.
class ThawedWhileTraced {
 public:
  explicit ThawedWhileTraced(std::string dir) : dir_(std::move(dir)) {
    write_file(dir_ + "/cgroup.freeze", "0");
  }
  ThawedWhileTraced(const ThawedWhileTraced&) = delete;
  ThawedWhileTraced& operator=(const ThawedWhileTraced&) = delete;
  ~ThawedWhileTraced() {
    try {
      write_file(dir_ + "/cgroup.freeze", "1");
    } catch (const Error&) {
      // The group vanished with its tasks; nothing to hold.
    }
  }

 private:
  std::string dir_;
};

}  // namespace

TreeState capture_tree(HostPid init, const std::string& cgroup_dir,
                       const CaptureOptions& options) {
  if (read_file(cgroup_dir + "/cgroup.events").find("frozen 1") == std::string::npos)
    throw Error("capture: cgroup " + cgroup_dir + " is not frozen");
  std::vector<Found> found = find_processes(init);
  std::map<HostPid, VPid> vpids;
  for (const Found& f : found)
    vpids[f.pid] = VPid{procfs::innermost(procfs::status(f.pid)["NSpid"])};

  // Seize every thread before reading anything, so the tree is held as one consistent
  // picture (a frozen cgroup already stops it; ptrace makes the state readable).
  std::map<HostPid, std::vector<Tracee>> tracees;
  for (const Found& f : found) {
    if (f.zombie) continue;
    auto& v = tracees[f.pid];
    std::vector<HostPid> tids = procfs::tasks(f.pid);
    // The thread group leader first: its tid equals the pid.
    v.emplace_back(f.pid);
    for (HostPid t : tids)
      if (t != f.pid) v.emplace_back(t);
  }
  ThawedWhileTraced thawed(cgroup_dir);

  TreeState tree;
  tree.crid = options.crid;
  tree.parent = options.parent;
  std::set<uint64_t> seen_pipes;
  for (const Found& f : found) {
    ProcessState p;
    if (f.zombie) {
      auto st = procfs::status(f.pid);
      p.pid = vpids[f.pid];
      p.host_pid = f.pid;
      p.zombie = true;
      p.exit_status = f.exit_status;
      auto parent = vpids.find(HostPid{std::atoi(st["PPid"].c_str())});
      p.ppid = parent == vpids.end() ? VPid{0} : parent->second;
      p.pgid = VPid{procfs::innermost(st["NSpgid"])};
      p.sid = VPid{procfs::innermost(st["NSsid"])};
      p.comm = st["Name"];
    } else {
      ProcessCapture(f.pid, tracees[f.pid], vpids).run(p, tree.pipes, seen_pipes);
    }
    tree.processes.push_back(std::move(p));
  }
  return tree;
}

uint64_t write_image(const TreeState& state, const std::string& path) {
  return write_tree_image_file(state, path);
}

}  // namespace deja::kmod
