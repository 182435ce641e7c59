// Writes a checkpoint image back to disk after the session has thawed, through io_uring:
// the chunks go out as a batch of writes, then an fsync, and the file appears under its
// final name only once it is durable (write to NAME.tmp, fsync, rename, fsync the folder).
// The ring is made once and reused for every checkpoint of a session.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace deja::recorder {

class UringFileWriter {
 public:
  explicit UringFileWriter(unsigned queue_depth = 32);
  UringFileWriter(const UringFileWriter&) = delete;
  UringFileWriter& operator=(const UringFileWriter&) = delete;
  ~UringFileWriter();

  /// Writes `chunks` in order as the new file `path`; returns its size. On any failure
  /// (ENOSPC, EIO, ...) the partial file is removed and a SysError names the path.
  uint64_t write(const std::string& path, std::span<const std::string_view> chunks);

 private:
  void write_all(int fd, const std::string& path, std::span<const std::string_view> chunks);
  void sync(int fd, const std::string& path);
  void submit(const std::string& path);
  io_uring_cqe* next_completion(const std::string& path);
  /// Waits for every request still in flight, whatever its result.
  void drain() noexcept;
  io_uring ring_;
  unsigned depth_;
  unsigned inflight_ = 0;  // requests submitted (or queued) whose completion is not seen
};

}  // namespace deja::recorder
