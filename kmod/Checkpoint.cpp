#include "kmod/Checkpoint.h"

#include <dirent.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "base/Error.h"
#include "base/Files.h"
#include "kmod/ProcFs.h"
#include "kmod/ProcessCapture.h"
#include "kmod/TreeCodec.h"
#include "kmod/inject/Tracee.h"
#include "kmod/objects/Objects.h"

namespace deja::kmod {

namespace {

struct Found {
  HostPid pid;
  bool zombie = false;
  int exit_status = 0;
  uint64_t start_time = 0;  // tells a reused PID apart
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
    procfs::Stat st = procfs::stat(p);
    Found x{p, st.state == 'Z', st.exit_code, st.start_time};
    if (st.state == 'X') continue;  // already reaped, about to vanish
    std::string what = "process with host pid " + std::to_string(p.value);
    // Job-control stops are not recorded: a stopped process would come back running.
    if (st.state == 'T')
      throw Error("capture: " + what + " is stopped (SIGSTOP/SIGTSTP), not supported yet");
    if (st.state == 't') throw Error("capture: " + what + " is traced by another debugger");
    if (x.zombie && procfs::tasks(p).size() > 1)
      throw Error("capture: " + what +
                  " has an exited thread-group leader with threads still running (not "
                  "supported yet)");
    out.push_back(x);
    if (x.zombie) continue;
    for (HostPid c : procfs::children(p)) todo.push_back(c);
  }
  return out;
}

// Processes (not threads) that share an address space, fd table, fs info or signal handlers
// (clone without CLONE_THREAD, vfork) would come back as separate copies: refuse them.
void check_no_shared_resources(const std::vector<Found>& found) {
  struct Kind {
    int type;
    const char* what;
  };
  constexpr Kind kKinds[] = {{KCMP_VM, "address space"},
                             {KCMP_FILES, "fd table"},
                             {KCMP_FS, "root/cwd/umask"},
                             {KCMP_SIGHAND, "signal handlers"}};
  for (size_t i = 0; i < found.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      if (found[i].zombie || found[j].zombie) continue;
      for (const Kind& k : kKinds) {
        long r = ::syscall(SYS_kcmp, found[i].pid.value, found[j].pid.value, k.type, 0, 0);
        if (r < 0)
          throw_errno("kcmp", "processes " + std::to_string(found[i].pid.value) + " and " +
                                  std::to_string(found[j].pid.value));
        if (r != 0) continue;
        std::string what = "capture: processes with host pids " +
                           std::to_string(found[j].pid.value) + " and " +
                           std::to_string(found[i].pid.value) + " share their " + k.what +
                           " (clone without CLONE_THREAD, or vfork), not supported yet";
        // A shared address space is nearly always a vfork child about to exec (shells start
        // every command that way): the caller retries rather than failing the checkpoint.
        if (k.type == KCMP_VM) throw TransientState(what);
        throw Error(what);
      }
    }
}

// Every process of the cgroup (and its child groups) must be in the tree: the group is thawed
// while the tree is held, and a member outside it (one that entered the session's
// namespaces from outside, say) would run, and be missing from the image.
void check_cgroup_members(const std::string& dir, const std::vector<Found>& found) {
  std::set<HostPid> in_tree;
  for (const Found& f : found) in_tree.insert(f.pid);
  std::vector<std::string> todo{dir};
  while (!todo.empty()) {
    std::string d = todo.back();
    todo.pop_back();
    std::istringstream procs(read_file(d + "/cgroup.procs"));
    int pid;
    while (procs >> pid)
      if (!in_tree.count(HostPid{pid}))
        throw Error("capture: process with host pid " + std::to_string(pid) + " is in cgroup " + d +
                    " but not a descendant of the session's init (not supported yet)");
    std::unique_ptr<DIR, int (*)(DIR*)> dh(::opendir(d.c_str()), ::closedir);
    if (!dh) throw_errno("opendir", d);
    while (dirent* e = ::readdir(dh.get()))
      if (e->d_type == DT_DIR && e->d_name[0] != '.') todo.push_back(d + "/" + e->d_name);
  }
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

TreeState capture_tree(HostPid init, const std::string& cgroup_dir, const CaptureOptions& options) {
  if (read_file(cgroup_dir + "/cgroup.events").find("frozen 1") == std::string::npos)
    throw Error("capture: cgroup " + cgroup_dir + " is not frozen");
  std::vector<Found> found = find_processes(init);
  std::map<HostPid, VPid> vpids;
  size_t depth = 0;
  for (const Found& f : found) {
    std::string nspid = procfs::status(f.pid)["NSpid"];
    vpids[f.pid] = VPid{procfs::innermost(nspid)};
    // A process in a PID namespace nested inside the session's would be revived with the
    // wrong numbers.
    size_t levels = static_cast<size_t>(std::count(nspid.begin(), nspid.end(), '\t') +
                                        std::count(nspid.begin(), nspid.end(), ' ')) +
                    1;
    if (depth == 0) depth = levels;
    if (levels != depth)
      throw Error("capture: process with host pid " + std::to_string(f.pid.value) +
                  " lives in a nested PID namespace (not supported yet)");
  }
  check_no_shared_resources(found);
  check_cgroup_members(cgroup_dir, found);

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
  if (options.held) options.held();
  ThawedWhileTraced thawed(cgroup_dir);

  TreeState tree;
  tree.crid = options.crid;
  tree.parent = options.parent;
  ObjectCapture objects(tree, vpids);
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
      ProcessTracking* t =
          options.tracking ? &options.tracking->process(f.pid, f.start_time) : nullptr;
      ProcessCapture capture(f.pid, tracees[f.pid], vpids, objects, t);
      capture.run(p, tree);
      if (options.pages_ms) *options.pages_ms += capture.pages_ms();
    }
    tree.processes.push_back(std::move(p));
  }
  capture_sysv_ipc(init, tree);
  objects.finish();
  return tree;
}

uint64_t write_image(const TreeState& state, const std::string& path) {
  return write_tree_image_file(state, path).bytes;
}

ImageLayout write_image_with_layout(const TreeState& state, const std::string& path) {
  return write_tree_image_file(state, path);
}

}  // namespace deja::kmod
