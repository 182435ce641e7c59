#include "recorder/Checkpointer.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <optional>
#include <set>
#include <thread>

#include "base/Error.h"
#include "base/Files.h"
#include "base/Json.h"
#include "base/ScopedFd.h"
#include "base/ThreadPriority.h"
#include "base/Time.h"
#include "kmod/Checkpoint.h"
#include "snapshot/Subvolume.h"

namespace deja::recorder {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

void flush_files(const std::string& files) {
  ScopedFd fd(::open(files.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw_errno("open", files);
  if (::syncfs(fd.get()) != 0) throw_errno("syncfs", files);
}

// The snapshot of a checkpoint not handed to the write-back: deleted unless it was.
class UncommittedFiles {
 public:
  UncommittedFiles() = default;
  UncommittedFiles(const UncommittedFiles&) = delete;
  UncommittedFiles& operator=(const UncommittedFiles&) = delete;
  ~UncommittedFiles() {
    // The catalog never names it, so gc could still remove it; the original error matters
    // more than a failure here.
    try {
      if (!snapshot_.empty()) snapshot::delete_subvolume(snapshot_);
    } catch (...) {
    }
  }
  void snapshot(std::string path) { snapshot_ = std::move(path); }
  void committed() { snapshot_.clear(); }

 private:
  std::string snapshot_;
};

// CPU time the session's processes have used.
uint64_t session_cpu_usec(const Cgroup& cg) {
  std::string stat = read_file(cg.path() + "/cpu.stat");
  auto at = stat.find("usage_usec ");
  return at == std::string::npos ? 0 : std::stoull(stat.substr(at + 11));
}

}  // namespace

Checkpointer::Checkpointer(const snapshot::Store& store, db::Catalog& catalog, Cgroup& cgroup,
                           std::string session_id, pid_t init_pid)
    : store_(store),
      catalog_(catalog),
      cgroup_(cgroup),
      session_(std::move(session_id)),
      files_(store.session_subvolume(session_)),
      images_(store.images_dir() + "/" + session_),
      init_pid_(init_pid),
      writeback_(store.catalog_path(), session_,
                 [&store](uint64_t bytes) { store.make_room(bytes); }) {
  make_dirs(images_, 0700);
  // A kernel without what a watch needs costs speed, not checkpoints: said once.
  auto watch = [&](void (kmod::PageTracking::*start)(const std::string&), const char* slower) {
    try {
      (tracking_.*start)(cgroup_.path());
    } catch (const Error& e) {
      std::fprintf(stderr,
                   "deja: session %s: every checkpoint %s while the session is frozen "
                   "(slower): %s\n",
                   session_.c_str(), slower, e.what());
    }
  };
  watch(&kmod::PageTracking::watch_mappings, "reads every process's mappings");
  watch(&kmod::PageTracking::watch_tasks, "asks every process for its signal handlers and timers");
}

bool Checkpointer::session_changed() {
  restart_chain_after_failures();
  std::set<kmod::HostPid> procs;
  for (pid_t p : cgroup_.procs()) procs.insert(kmod::HostPid{p});
  if (tracking_.empty() || !tracking_.tracks_exactly(procs)) return true;
  flush_files(files_);
  if (snapshot::subvolume_generation(files_) != last_generation_) return true;
  // Resuming from a checkpoint writes a page or two of every process by itself (the kernel
  // updates each thread's rseq area, an interrupted nanosleep stores the time left), and
  // costs the session ~0.5 ms of CPU. So a few written pages count only once the session
  // has run for longer than that since the last checkpoint (until then they wait for a
  // later tick); more than a few count at once.
  constexpr uint64_t kRanUsec = 5000;
  uint64_t few = 4 * tracking_.processes();
  uint64_t written = tracking_.written_pages(few + 1);
  if (written > few) return true;
  return written > 0 && session_cpu_usec(cgroup_) - last_cpu_usec_ > kRanUsec;
}

db::CheckpointRow Checkpointer::take(Commit commit, std::optional<db::StoreLock> store_lock) {
  restart_chain_after_failures();
  // Step 1: flushing while the session runs keeps the snapshot under the freeze cheap.
  flush_files(files_);
  db::CheckpointRow row;
  row.session = session_;
  row.crid = catalog_.reserve_crid();
  std::string snap = store_.snapshot_path(session_, row.crid.value);
  UncommittedFiles pending;
  // Pages re-protected by a capture that is never committed would be lost to the chain:
  // unless this checkpoint commits, the next one starts over with a full image.
  struct ResetUnlessCommitted {
    kmod::PageTracking& t;
    bool committed = false;
    ~ResetUnlessCommitted() {
      if (!committed) t.reset();
    }
  } chain{tracking_};
  bool incremental = !tracking_.empty() && last_crid_.value != 0;

  // While the session runs: what the capture would otherwise read or allocate under the
  // freeze.
  std::vector<kmod::HostPid> procs;
  for (pid_t p : cgroup_.procs()) procs.push_back(kmod::HostPid{p});
  tracking_.prepare(procs);
  kmod::UnsharedProcesses unshared = kmod::unshared_processes(procs);
  double pages_ms = 0;
  kmod::TreeState tree;
  // From the freeze to the thaw the recorder's threads go first (ThreadPriority.h); declared
  // before `frozen`, so a thaw on the way out of an error still runs boosted.
  std::optional<BoostedThread> boost(std::in_place);
  std::optional<FrozenCgroup> frozen;
  Clock::time_point t0, t1, captured;
  // A vfork child shares its parent's memory only until it execs: thaw, let it, try again.
  constexpr int kAttempts = 5;
  for (int attempt = 1;; ++attempt) {
    t0 = Clock::now();
    frozen.emplace(cgroup_);
    row.time = unix_now();
    t1 = Clock::now();
    pending.snapshot(snap);
    // The snapshot needs nothing from the capture: btrfs commits it beside the ptrace work,
    // from the moment every task is held (started earlier, it slows the seizing down).
    std::future<uint64_t> fsid;
    auto snapshot = [&] { return snapshot::snapshot_subvolume(files_, snap, /*read_only=*/true); };
    kmod::CaptureOptions options{kmod::Crid{row.crid.value},
                                 kmod::Crid{incremental ? last_crid_.value : 0}, &tracking_,
                                 &pages_ms,
                                 [&] { fsid = std::async(std::launch::async, snapshot); },
                                 t0, freeze_limit_, &unshared};
    try {
      tree = kmod::capture_tree(kmod::HostPid{init_pid_}, cgroup_.path(), options);
      captured = Clock::now();
      row.fsid = fsid.get();
      break;
    } catch (const kmod::TransientState&) {
      if (fsid.valid()) {
        fsid.get();
        snapshot::delete_subvolume(snap);
      }
      frozen.reset();
      if (attempt == kAttempts) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  // Read while still frozen: the snapshot itself moves the generation on, and a write after
  // the thaw must count as a change.
  uint64_t generation = snapshot::subvolume_generation(files_);
  uint64_t cpu = session_cpu_usec(cgroup_);
  auto t3 = Clock::now();
  frozen->thaw();
  auto t4 = Clock::now();
  boost.reset();
  tracking_.verify_flags();

  // After the thaw: the session runs again while the image goes to disk.
  tracking_.add_references(tree);
  // Inline pages: those written since the parent (all of them in a full image).
  row.pages_written = static_cast<int64_t>(tree.page_bytes() / kmod::kPageSize);
  std::set<uint64_t> refs = tracking_.inherited_images();
  for (const auto& p : tree.processes)
    for (const auto& e : p.pages)
      if (e.data_crid.value) refs.insert(e.data_crid.value);
  for (uint64_t r : refs) row.references.push_back(db::Crid{r});
  if (!refs.empty())
    row.parent_crid = last_crid_.value;
  else
    tree.parent = kmod::Crid{};  // nothing refers back: a full image
  std::string image = images_ + "/" + std::to_string(row.crid.value) + ".img";
  WriteBack::Job job;
  // The tree goes to the write-back with the image, whose chunks borrow its page data.
  job.tree = std::make_unique<kmod::TreeState>(std::move(tree));
  kmod::ImageLayout layout = kmod::encode_tree_image(*job.tree, job.image_chunks, image);
  row.image_bytes = static_cast<int64_t>(layout.bytes);
  row.image = image.substr(store_.images_dir().size() + 1);
  row.snapshot = snap.substr(store_.root().size() + 1);
  row.downtime_ms = ms_between(t0, t4);
  JsonWriter parts;
  parts.begin_object()
      .field("freeze", ms_between(t0, t1))
      .field("capture", ms_between(t1, captured) - pages_ms)
      .field("pages", pages_ms)
      // What the snapshot adds beyond the capture it runs beside, so the parts add up.
      .field("snapshot", ms_between(captured, t3))
      .field("thaw", ms_between(t3, t4))
      .end_object();
  row.downtime_parts = parts.str();
  // From here the write-back owns the files; the next checkpoints build on this one as if
  // committed (the write-back commits in order, and drops them too if this one fails).
  job.row = row;
  job.image = image;
  job.snapshot = snap;
  job.waited = commit == Commit::wait;
  job.store_lock = std::move(store_lock);
  pending.committed();
  tracking_.committed(*job.tree, layout);
  chain.committed = true;
  last_generation_ = generation;
  last_cpu_usec_ = cpu;
  last_crid_ = row.crid;
  writeback_.submit(std::move(job));
  if (commit == Commit::wait) writeback_.wait(row.crid);
  return row;
}

void Checkpointer::finish() {
  writeback_.finish();
}

void Checkpointer::restart_chain_after_failures() {
  uint64_t failures = writeback_.failures();
  if (failures == failures_seen_) return;
  failures_seen_ = failures;
  tracking_.reset();
  last_crid_ = db::Crid{};
}

}  // namespace deja::recorder
