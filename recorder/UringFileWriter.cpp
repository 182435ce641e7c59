#include "recorder/UringFileWriter.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <vector>

#include "base/Error.h"
#include "base/ScopedFd.h"

namespace deja::recorder {

namespace {

// One write in flight; a short write is resubmitted for the rest.
struct Piece {
  const char* data;
  size_t len;
  uint64_t offset;
};

constexpr size_t kMaxWrite = 1 << 20;
// The fsync's completion is told apart from the writes' (whose tag is their slot).
constexpr uint64_t kFsyncTag = ~uint64_t{0};

}  // namespace

UringFileWriter::UringFileWriter(unsigned queue_depth) : depth_(queue_depth) {
  int rc = io_uring_queue_init(queue_depth, &ring_, 0);
  if (rc < 0) throw_errno("io_uring_queue_init", std::to_string(queue_depth) + " entries", -rc);
}

UringFileWriter::~UringFileWriter() {
  drain();
  io_uring_queue_exit(&ring_);
}

io_uring_cqe* UringFileWriter::next_completion(const std::string& path) {
  io_uring_cqe* cqe = nullptr;
  int rc;
  do rc = io_uring_wait_cqe(&ring_, &cqe);
  while (rc == -EINTR);
  if (rc < 0) throw_errno("io_uring_wait_cqe", path, -rc);
  return cqe;
}

void UringFileWriter::submit(const std::string& path) {
  int rc;
  do rc = io_uring_submit(&ring_);
  while (rc == -EINTR);
  if (rc < 0) throw_errno("io_uring_submit", path, -rc);
}

void UringFileWriter::drain() noexcept {
  // Every request submitted must complete before its buffers or fd go away, and none may
  // be left in the ring for the next file to mistake for its own.
  if (io_uring_sq_ready(&ring_) > 0) io_uring_submit(&ring_);
  while (inflight_ > 0) {
    io_uring_cqe* cqe = nullptr;
    int rc = io_uring_wait_cqe(&ring_, &cqe);
    if (rc == -EINTR) continue;
    if (rc < 0) break;  // the ring itself failed: nothing more will complete
    io_uring_cqe_seen(&ring_, cqe);
    --inflight_;
  }
}

void UringFileWriter::write_all(int fd, const std::string& path,
                                std::span<const std::string_view> chunks) {
  std::deque<Piece> todo;
  uint64_t offset = 0;
  for (std::string_view c : chunks) {
    for (size_t at = 0; at < c.size(); at += kMaxWrite) {
      size_t len = std::min(kMaxWrite, c.size() - at);
      todo.push_back({c.data() + at, len, offset});
      offset += len;
    }
  }
  // Each completion carries the index of its piece in `inflight`.
  std::vector<Piece> inflight(depth_);
  std::vector<unsigned> free_slots;
  for (unsigned i = 0; i < depth_; ++i) free_slots.push_back(i);
  while (!todo.empty() || inflight_) {
    while (!todo.empty() && !free_slots.empty()) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      if (!sqe) break;
      unsigned slot = free_slots.back();
      free_slots.pop_back();
      inflight[slot] = todo.front();
      todo.pop_front();
      io_uring_prep_write(sqe, fd, inflight[slot].data, static_cast<unsigned>(inflight[slot].len),
                          inflight[slot].offset);
      io_uring_sqe_set_data64(sqe, slot);
      ++inflight_;
    }
    submit(path);
    io_uring_cqe* cqe = next_completion(path);
    do {
      unsigned slot = static_cast<unsigned>(io_uring_cqe_get_data64(cqe));
      int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      --inflight_;
      free_slots.push_back(slot);
      // The caller drains what is still in flight (see write()).
      if (res < 0) throw_errno("io_uring write", path, -res);
      Piece& p = inflight[slot];
      if (static_cast<size_t>(res) < p.len) {
        if (res == 0) throw Error("io_uring write " + path + ": no progress");
        todo.push_front({p.data + res, p.len - static_cast<size_t>(res),
                         p.offset + static_cast<uint64_t>(res)});
      }
    } while (io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe);
  }
}

void UringFileWriter::sync(int fd, const std::string& path) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) throw Error("io_uring: no free submission entry for fsync of " + path);
  io_uring_prep_fsync(sqe, fd, 0);
  io_uring_sqe_set_data64(sqe, kFsyncTag);
  ++inflight_;
  submit(path);
  io_uring_cqe* cqe = next_completion(path);
  uint64_t tag = io_uring_cqe_get_data64(cqe);
  int res = cqe->res;
  io_uring_cqe_seen(&ring_, cqe);
  --inflight_;
  // Only the fsync is in flight here (write_all waited for every write): anything else is a
  // broken invariant, and committing on it would commit an image that may not be durable.
  if (tag != kFsyncTag) throw Error("io_uring: a stray completion while syncing " + path);
  if (res < 0) throw_errno("io_uring fsync", path, -res);
}

uint64_t UringFileWriter::write(const std::string& path, std::span<const std::string_view> chunks) {
  std::string tmp = path + ".tmp";
  ScopedFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) throw_errno("open", tmp);
  uint64_t size = 0;
  for (auto c : chunks) size += c.size();
  try {
    write_all(fd.get(), tmp, chunks);
    sync(fd.get(), tmp);
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno("rename", tmp);
  } catch (...) {
    drain();
    ::unlink(tmp.c_str());
    throw;
  }
  std::string dir = path.substr(0, path.rfind('/'));
  ScopedFd dfd(::open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd || ::fsync(dfd.get()) != 0) throw_errno("fsync", dir);
  return size;
}

}  // namespace deja::recorder
