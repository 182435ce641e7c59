#include "recorder/Checkpointer.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>

#include "base/Error.h"
#include "base/Files.h"
#include "base/Json.h"
#include "base/ScopedFd.h"
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

// The files of a checkpoint that is not committed yet: deleted unless a row now owns them.
class UncommittedFiles {
 public:
  UncommittedFiles() = default;
  UncommittedFiles(const UncommittedFiles&) = delete;
  UncommittedFiles& operator=(const UncommittedFiles&) = delete;
  ~UncommittedFiles() {
    // The catalog never names them, so gc could still remove them; the original error matters
    // more than a failure here.
    if (!image_.empty()) ::unlink(image_.c_str());
    try {
      if (!snapshot_.empty()) snapshot::delete_subvolume(snapshot_);
    } catch (...) {
    }
  }
  void snapshot(std::string path) { snapshot_ = std::move(path); }
  void image(std::string path) { image_ = std::move(path); }
  void committed() { snapshot_.clear(), image_.clear(); }

 private:
  std::string snapshot_, image_;
};

// CPU time the session's processes have used: if it did not move, none of them ran.
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
      init_pid_(init_pid) {
  make_dirs(images_, 0700);
}

bool Checkpointer::session_changed() {
  // A checkpoint itself costs the session ~0.5 ms of CPU (tasks restart the syscalls the
  // capture interrupted), so only more than that means the session's programs ran. Until
  // written pages are tracked (issue 4) this is the measure of "something ran".
  constexpr uint64_t kRanUsec = 5000;
  if (session_cpu_usec(cgroup_) - last_cpu_usec_ > kRanUsec) return true;
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
  UncommittedFiles pending;

  auto t0 = Clock::now();
  FrozenCgroup frozen(cgroup_);
  row.time = unix_now();
  auto t1 = Clock::now();
  kmod::TreeState tree = kmod::capture_tree(kmod::HostPid{init_pid_}, cgroup_.path(),
                                            {kmod::Crid{row.crid.value}, kmod::Crid{}});
  auto t2 = Clock::now();
  row.fsid = snapshot::snapshot_subvolume(files_, snap, /*read_only=*/true);
  pending.snapshot(snap);
  // Read while still frozen: the snapshot itself moves the generation on, and a write after
  // the thaw must count as a change.
  uint64_t generation = snapshot::subvolume_generation(files_);
  uint64_t cpu = session_cpu_usec(cgroup_);
  auto t3 = Clock::now();
  frozen.thaw();
  auto t4 = Clock::now();

  // After the thaw: the session runs again while the image goes to disk.
  std::string image = images_ + "/" + std::to_string(row.crid.value) + ".img";
  pending.image(image);
  row.image_bytes = static_cast<int64_t>(kmod::write_image(tree, image));
  row.image = image.substr(store_.images_dir().size() + 1);
  row.pages_written = static_cast<int64_t>(tree.page_bytes() / kmod::kPageSize);
  row.snapshot = snap.substr(store_.root().size() + 1);
  row.downtime_ms = ms_between(t0, t4);
  JsonWriter parts;
  parts.begin_object()
      .field("freeze", ms_between(t0, t1))
      .field("capture", ms_between(t1, t2))
      .field("snapshot", ms_between(t2, t3))
      .field("thaw", ms_between(t3, t4))
      .end_object();
  row.downtime_parts = parts.str();
  catalog_.add_checkpoint(row);
  pending.committed();
  last_generation_ = generation;
  last_cpu_usec_ = cpu;
  return row;
}

}  // namespace deja::recorder
