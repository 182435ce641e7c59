#include "recorder/WriteBack.h"

#include <unistd.h>

#include <cstdio>
#include <optional>

#include "base/Error.h"
#include "recorder/UringFileWriter.h"
#include "snapshot/Subvolume.h"

namespace deja::recorder {

namespace {

// Removes what a checkpoint made unless its row came to own it.
void remove_files(const WriteBack::Job& job) {
  ::unlink(job.image.c_str());
  if (job.snapshot.empty()) return;
  try {
    snapshot::delete_subvolume(job.snapshot);
  } catch (const std::exception& e) {
    // Not named by any row, so gc may still remove it; the original error matters more.
    std::fprintf(stderr, "deja: %s\n", e.what());
  }
}

uint64_t size_of(const WriteBack::Job& job) {
  uint64_t n = 0;
  for (std::string_view c : job.image_chunks.chunks) n += c.size();
  return n;
}

}  // namespace

WriteBack::WriteBack(std::string catalog_path, std::string session,
                     std::function<void(uint64_t)> make_room)
    : catalog_path_(std::move(catalog_path)),
      session_(std::move(session)),
      make_room_(std::move(make_room)),
      thread_([this] { run(); }) {}

WriteBack::~WriteBack() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void WriteBack::submit(Job job) {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] {
    return queue_.size() < kMaxQueued && queued_bytes_ < kMaxQueuedBytes;
  });
  submitted_ = job.row.crid.value;
  job.bytes = size_of(job);
  queued_bytes_ += job.bytes;
  queue_.push_back(std::move(job));
  changed_.notify_all();
}

void WriteBack::wait(db::Crid crid) {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return done_ >= crid.value; });
  auto e = errors_.find(crid.value);
  if (e == errors_.end()) return;
  std::string what = std::move(e->second);
  errors_.erase(e);
  throw Error(what);
}

void WriteBack::finish() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return done_ >= submitted_; });
}

uint64_t WriteBack::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

void WriteBack::write_and_commit(Job& job, UringFileWriter& writer, db::Catalog& catalog) {
  // If no room can be made (the host disk is full), the write fails with btrfs's ENOSPC and
  // the checkpoint is dropped like any failed one.
  try {
    if (make_room_) make_room_(job.bytes);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "deja: session %s: %s\n", session_.c_str(), e.what());
  }
  job.row.image_bytes =
      static_cast<int64_t>(writer.write(job.image, job.image_chunks.chunks));
  catalog.add_checkpoint(job.row);
}

void WriteBack::run() {
  std::optional<db::Catalog> catalog;
  std::optional<UringFileWriter> writer;
  bool chain_broken = false;  // a checkpoint failed: drop incremental ones until a full one
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= job.bytes;
      changed_.notify_all();  // room for a waiting submit
    }
    std::string error;
    bool incremental = job.row.parent_crid.has_value();
    try {
      if (chain_broken && incremental)
        throw Error("it refers to an earlier checkpoint whose write-back failed");
      // The recorder's own connection belongs to its main thread; this one is the writer's.
      if (!catalog) catalog.emplace(catalog_path_);
      if (!writer) writer.emplace();
      write_and_commit(job, *writer, *catalog);
      chain_broken = false;
    } catch (const std::exception& e) {
      remove_files(job);
      chain_broken = true;
      error = "write-back of checkpoint " + std::to_string(job.row.crid.value) + " failed: " +
              e.what();
      std::fprintf(stderr, "deja: session %s: %s (not committed)\n", session_.c_str(),
                   error.c_str());
    }
    // Free the image before telling anyone it is done.
    job.image_chunks = {};
    job.tree.reset();
    std::lock_guard lock(mu_);
    done_ = job.row.crid.value;
    if (!error.empty()) {
      ++failures_;
      if (job.waited) errors_[job.row.crid.value] = error;
    }
    changed_.notify_all();
  }
}

}  // namespace deja::recorder
