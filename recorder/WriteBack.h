// The checkpoints of a session on their way to disk. Each image is written through io_uring
// and fsynced on a thread of its own while the session runs on and the next checkpoints are
// taken (a 512 MiB first image no longer holds up the cadence); rows are committed in the
// order the checkpoints were taken, each only once its image is durable, so an incremental
// image may refer to one still being written and is committed after it. A checkpoint whose
// write-back fails is removed (image and snapshot), and so is every incremental one queued
// behind it, as it may refer to it; failures() tells the checkpointer to start its chain over.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "db/Catalog.h"
#include "db/StoreLock.h"
#include "kmod/ImageWriter.h"
#include "kmod/TreeState.h"
#include "recorder/UringFileWriter.h"

namespace deja::recorder {

class WriteBack {
 public:
  struct Job {
    db::CheckpointRow row;  // row.image_bytes is filled in from `bytes`
    std::string image;      // where the image goes
    std::string snapshot;   // the checkpoint's snapshot, removed unless committed
    // The image: chunks that borrow the page data of `tree` (kept here for them).
    std::unique_ptr<kmod::TreeState> tree;
    kmod::image::ImageChunks image_chunks;
    bool waited = false;    // someone calls wait(row.crid): keep its failure for them
    uint64_t bytes = 0;     // the image's size, filled in by submit()
    std::optional<db::StoreLock> store_lock;  // released once committed or dropped
  };

  /// `make_room(bytes)` runs before each image is written (a loop-backed store grows its
  /// image there); its errors are reported, and the write is tried all the same.
  WriteBack(std::string catalog_path, std::string session,
            std::function<void(uint64_t bytes)> make_room = {});
  WriteBack(const WriteBack&) = delete;
  WriteBack& operator=(const WriteBack&) = delete;
  /// Commits (or drops) everything queued first.
  ~WriteBack();

  /// Queues `job`; waits first while too much is queued already (memory stays bounded when
  /// the disk is slower than the session writes).
  void submit(Job job);
  /// Waits until checkpoint `crid`, submitted with `waited`, is committed; throws its error
  /// if it was dropped instead.
  void wait(db::Crid crid);
  /// Waits until everything submitted is committed or dropped.
  void finish();
  /// Checkpoints dropped so far.
  uint64_t failures() const;

 private:
  void run();
  void write_and_commit(Job& job, UringFileWriter& writer, db::Catalog& catalog);

  // Queued beyond the image being written: at most this many checkpoints, this many bytes.
  static constexpr size_t kMaxQueued = 16;
  static constexpr size_t kMaxQueuedBytes = 128u << 20;

  std::string catalog_path_, session_;
  std::function<void(uint64_t)> make_room_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Job> queue_;
  size_t queued_bytes_ = 0;
  uint64_t done_ = 0;       // the last CRID committed or dropped
  uint64_t submitted_ = 0;  // the last CRID submitted
  uint64_t failures_ = 0;
  std::map<uint64_t, std::string> errors_;  // of dropped jobs someone waits for
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace deja::recorder
