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
#include <optional>
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
  procfs::Stat stat;
  procfs::Status status;  // read once, for the capture too
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
    Found x{p, st.state == 'Z', st.exit_code, st.start_time, st, {}};
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

// kcmp of two processes' `type` resource: 0 equal, 1 less, 2 greater (the kernel orders
// them by obfuscated address, consistently within a boot), 3 different but unordered.
long kcmp(HostPid a, HostPid b, int type) {
  long r = ::syscall(SYS_kcmp, a.value, b.value, type, 0, 0);
  if (r < 0)
    throw_errno("kcmp", "processes " + std::to_string(a.value) + " and " + std::to_string(b.value));
  return r;
}

// The first two of `pids` that share their `type` resource, if any. Sorting by kcmp's order
// takes n log n calls where comparing every pair took n^2/2 (80,000 per kind for 400
// processes); the pairwise sweep remains for a kernel that answers "unordered".
std::optional<std::pair<HostPid, HostPid>> first_sharing(std::vector<HostPid> pids, int type) {
  bool unordered = false;
  std::sort(pids.begin(), pids.end(), [&](HostPid a, HostPid b) {
    long r = kcmp(a, b, type);
    unordered |= r == 3;
    return r == 1;
  });
  if (!unordered) {
    for (size_t i = 1; i < pids.size(); ++i)
      if (kcmp(pids[i - 1], pids[i], type) == 0)
        return std::pair{std::min(pids[i - 1], pids[i]), std::max(pids[i - 1], pids[i])};
    return std::nullopt;
  }
  for (size_t i = 0; i < pids.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (kcmp(pids[i], pids[j], type) == 0)
        return std::pair{std::min(pids[i], pids[j]), std::max(pids[i], pids[j])};
  return std::nullopt;
}

// Processes (not threads) that share an address space, fd table, fs info or signal handlers
// (clone without CLONE_THREAD, vfork) would come back as separate copies: refuse them.
struct SharedKind {
  int type;
  const char* what;
};
constexpr SharedKind kSharedKinds[] = {{KCMP_VM, "address space"},
                                       {KCMP_FILES, "fd table"},
                                       {KCMP_FS, "root/cwd/umask"},
                                       {KCMP_SIGHAND, "signal handlers"}};

[[noreturn]] void refuse_sharing(HostPid a, HostPid b, const SharedKind& k) {
  std::string what = "capture: processes with host pids " + std::to_string(std::min(a, b).value) +
                     " and " + std::to_string(std::max(a, b).value) + " share their " + k.what +
                     " (clone without CLONE_THREAD, or vfork), not supported yet";
  // A shared address space is nearly always a vfork child about to exec (shells start
  // every command that way): the caller retries rather than failing the checkpoint.
  if (k.type == KCMP_VM) throw TransientState(what);
  throw Error(what);
}

void check_no_shared_resources(const std::vector<Found>& found, const UnsharedProcesses* known) {
  std::vector<HostPid> live, fresh;
  for (const Found& f : found) {
    if (f.zombie) continue;
    live.push_back(f.pid);
    if (known && !known->count({f.pid, f.start_time})) fresh.push_back(f.pid);
  }
  // Only a process new since the check can share with another: each of a few new ones is
  // compared with every process, else all are sorted by kcmp's order (n log n calls).
  constexpr size_t kFewNew = 8;
  bool few = known && !known->empty() && fresh.size() <= kFewNew;
  for (const SharedKind& k : kSharedKinds) {
    if (!few) {
      if (auto shared = first_sharing(live, k.type)) refuse_sharing(shared->first, shared->second, k);
      continue;
    }
    for (HostPid n : fresh)
      for (HostPid p : live)
        if (p != n && kcmp(n, p, k.type) == 0) refuse_sharing(n, p, k);
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

void capture_zombie(const Found& f, const std::map<HostPid, VPid>& vpids, ProcessState& p) {
  procfs::Status st = procfs::status(f.pid);
  p.pid = vpids.at(f.pid);
  p.host_pid = f.pid;
  p.zombie = true;
  p.exit_status = f.exit_status;
  auto parent = vpids.find(HostPid{st.ppid});
  p.ppid = parent == vpids.end() ? VPid{0} : parent->second;
  p.pgid = VPid{st.ns_pgid};
  p.sid = VPid{st.ns_sid};
  p.comm = st.name;
}

// Collects the injected batches of captures[from...] that are done and sets off their next
// ones, without waiting. Called before each process is finished, it moves every process's
// threads on through their batches side by side: their waits to be scheduled overlap
// instead of adding up.
void advance_queries(std::vector<std::unique_ptr<ProcessCapture>>& captures, size_t from) {
  for (size_t i = from; i < captures.size(); ++i)
    if (captures[i]) captures[i]->advance_queries();
}

// Throws FreezeLimitExceeded once the session has been held longer than the options allow.
void check_freeze_limit(const CaptureOptions& o, size_t done, size_t total) {
  if (o.freeze_limit.count() == 0) return;
  auto held = std::chrono::steady_clock::now() - o.frozen_at;
  if (held <= o.freeze_limit) return;
  throw FreezeLimitExceeded(
      "capture: the session was held longer than its limit of " +
      std::to_string(o.freeze_limit.count()) + " ms with " + std::to_string(done) + " of " +
      std::to_string(total) + " processes captured; checkpoint abandoned, session thawed");
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

UnsharedProcesses unshared_processes(const std::vector<HostPid>& pids) {
  try {
    // Start times first: a PID reused after them names a process the capture checks anew.
    UnsharedProcesses out;
    for (HostPid p : pids) out.insert({p, procfs::stat(p).start_time});
    for (const SharedKind& k : kSharedKinds)
      if (first_sharing(pids, k.type)) return {};
    return out;
  } catch (const Error&) {
    return {};  // one exited meanwhile
  }
}

TreeState capture_tree(HostPid init, const std::string& cgroup_dir, const CaptureOptions& options) {
  if (read_file(cgroup_dir + "/cgroup.events").find("frozen 1") == std::string::npos)
    throw Error("capture: cgroup " + cgroup_dir + " is not frozen");
  std::vector<Found> found = find_processes(init);
  std::map<HostPid, VPid> vpids;
  size_t depth = 0;
  for (Found& f : found) {
    f.status = procfs::status(f.pid);
    vpids[f.pid] = VPid{f.status.ns_pid};
    // A process in a PID namespace nested inside the session's would be revived with the
    // wrong numbers.
    size_t levels = f.status.pid_namespaces;
    if (depth == 0) depth = levels;
    if (levels != depth)
      throw Error("capture: process with host pid " + std::to_string(f.pid.value) +
                  " lives in a nested PID namespace (not supported yet)");
  }
  check_no_shared_resources(found, options.unshared);
  check_cgroup_members(cgroup_dir, found);

  // Seize every thread before reading anything, so the tree is held as one consistent
  // picture (a frozen cgroup already stops it; ptrace makes the state readable).
  std::vector<HostPid> tids;
  std::vector<size_t> threads_of;  // per live process, in `found` order
  for (const Found& f : found) {
    if (f.zombie) continue;
    // The thread group leader first: its tid equals the pid.
    tids.push_back(f.pid);
    size_t n = 1;
    for (HostPid t : procfs::tasks(f.pid)) {
      if (t == f.pid) continue;
      tids.push_back(t);
      ++n;
    }
    threads_of.push_back(n);
  }
  std::vector<Tracee> seized = seize_all(tids);
  std::map<HostPid, std::vector<Tracee>> tracees;
  auto next = seized.begin();
  size_t live = 0;
  for (const Found& f : found) {
    if (f.zombie) continue;
    auto end = next + static_cast<std::ptrdiff_t>(threads_of[live++]);
    tracees.emplace(f.pid, std::vector<Tracee>(std::make_move_iterator(next),
                                               std::make_move_iterator(end)));
    next = end;
  }
  check_freeze_limit(options, 0, found.size());
  // Before the engine runs anything in a process (its brk query takes the mm's write lock).
  if (options.tracking) options.tracking->held();
  if (options.held) options.held();
  ThawedWhileTraced thawed(cgroup_dir);

  TreeState tree;
  tree.crid = options.crid;
  tree.parent = options.parent;
  ObjectCapture objects(tree, vpids,
                        options.tracking ? &options.tracking->caches() : nullptr);
  // Each process is captured in two halves a window of processes apart: the injected syscalls
  // begin() sets off run in their process while the capture reads the next ones, and finish()
  // collects them; waiting for each process to be scheduled in turn cost up to a millisecond
  // per process on a loaded machine. Declared after `thawed`: a capture abandoned by an error
  // takes its thread back while the group still lets it run.
  constexpr size_t kWindow = 32;
  std::vector<ProcessState> states(found.size());
  std::vector<std::unique_ptr<ProcessCapture>> captures(found.size());
  // The other core reads mappings, pages and fds meanwhile; declared after `captures`, it
  // stops before they go.
  std::optional<CaptureWorkerThread> worker;
  if (options.tracking && found.size() > 1) worker.emplace();
  auto finish = [&](size_t i) {
    if (found[i].zombie) return capture_zombie(found[i], vpids, states[i]);
    captures[i]->finish(states[i], tree);
    if (options.pages_ms) *options.pages_ms += captures[i]->pages_ms();
    captures[i].reset();
  };
  for (size_t i = 0; i < found.size(); ++i) {
    const Found& f = found[i];
    if (!f.zombie) {
      ProcessTracking* t =
          options.tracking ? &options.tracking->process(f.pid, f.start_time) : nullptr;
      captures[i] = std::make_unique<ProcessCapture>(f.pid, tracees[f.pid], vpids, objects, t,
                                                     std::move(found[i].status), f.stat);
      captures[i]->begin(states[i], /*overlap=*/true);
      if (worker) captures[i]->hand_to(*worker, states[i], tree);
    }
    if (i >= kWindow) finish(i - kWindow);
    check_freeze_limit(options, i + 1, found.size());
  }
  for (size_t i = found.size() > kWindow ? found.size() - kWindow : 0; i < found.size(); ++i) {
    advance_queries(captures, i + 1);
    finish(i);
  }
  // Every process's answers are kept: calls from now on are changes (the tree is still held).
  if (options.tracking) options.tracking->answers_taken();
  tree.processes = std::move(states);
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
