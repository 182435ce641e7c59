#include "recorder/Checkpointer.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>

#include "base/Error.h"
#include "base/Json.h"
#include "base/ScopedFd.h"
#include "base/Time.h"
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

// Deletes a snapshot that was made but not committed, unless told it is now owned by a row.
class UncommittedSnapshot {
 public:
  explicit UncommittedSnapshot(std::string path) : path_(std::move(path)) {}
  ~UncommittedSnapshot() {
    if (path_.empty()) return;
    try {
      snapshot::delete_subvolume(path_);
    } catch (...) {
      // The catalog never names it, so gc can still remove it; the original error matters more.
    }
  }
  void committed() { path_.clear(); }

 private:
  std::string path_;
};

}  // namespace

Checkpointer::Checkpointer(const snapshot::Store& store, db::Catalog& catalog, Cgroup& cgroup,
                           std::string session_id)
    : store_(store),
      catalog_(catalog),
      cgroup_(cgroup),
      session_(std::move(session_id)),
      files_(store.session_subvolume(session_)) {}

bool Checkpointer::files_changed() {
  flush_files(files_);
  return snapshot::subvolume_generation(files_) != last_generation_;
}

db::CheckpointRow Checkpointer::take() {
  // Step 1: flushing while the session runs keeps the snapshot under the freeze cheap.
  flush_files(files_);
  db::CheckpointRow row;
  row.session = session_;
  row.crid = catalog_.reserve_crid();
  std::string snap = store_.snapshot_path(session_, row.crid.value);

  auto t0 = Clock::now();
  FrozenCgroup frozen(cgroup_);
  row.time = unix_now();
  auto t1 = Clock::now();
  row.fsid = snapshot::snapshot_subvolume(files_, snap, /*read_only=*/true);
  UncommittedSnapshot pending(snap);
  // Read while still frozen: the snapshot itself moves the generation on, and a write after
  // the thaw must count as a change.
  uint64_t generation = snapshot::subvolume_generation(files_);
  auto t2 = Clock::now();
  frozen.thaw();
  auto t3 = Clock::now();

  row.snapshot = snap.substr(store_.root().size() + 1);
  row.downtime_ms = ms_between(t0, t3);
  JsonWriter parts;
  parts.begin_object()
      .field("freeze", ms_between(t0, t1))
      .field("snapshot", ms_between(t1, t2))
      .field("thaw", ms_between(t2, t3))
      .end_object();
  row.downtime_parts = parts.str();
  catalog_.add_checkpoint(row);
  pending.committed();
  last_generation_ = generation;
  return row;
}

}  // namespace deja::recorder
