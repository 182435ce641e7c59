// Writes one checkpoint image as a stream: header, records, end record. It never seeks, so
// the destination may be a pipe or a socket as well as a file.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "kmod/Record.h"
#include "kmod/Types.h"

namespace deja::kmod::image {

struct ImageHeader {
  uint32_t version = kVersion;
  Crid crid;
  Crid parent;
  uint64_t flags = 0;
};

/// An image as byte ranges to write in order: the writer's own bytes (headers, small
/// fields) in `owned`, and the large page data of the tree it was encoded from, not copied
/// (so that tree must outlive the chunks). The recorder's write-back sends them to disk
/// without gathering a second copy of a session's memory.
struct ImageChunks {
  std::deque<std::string> owned;  // a deque: its strings stay where the views point
  std::vector<std::string_view> chunks;
};

class ImageWriter {
 public:
  /// Writes the header at once. `fd` is borrowed and must stay open until finish();
  /// `name` appears in errors.
  ImageWriter(int fd, std::string name, const ImageHeader& header);
  /// Writes into `*out` instead (appended; the caller reuses its capacity), for a writer
  /// that puts the bytes on disk itself (the recorder's io_uring write-back).
  ImageWriter(std::string* out, std::string name, const ImageHeader& header);
  /// Writes into `*out` as chunks (see ImageChunks).
  ImageWriter(ImageChunks* out, std::string name, const ImageHeader& header);
  ImageWriter(const ImageWriter&) = delete;
  ImageWriter& operator=(const ImageWriter&) = delete;

  /// Appends a record; returns the stream offset where its payload starts (a page
  /// reference adds RecordBuilder::last_bytes_offset() to it).
  uint64_t write(const RecordBuilder& record);
  /// Writes the end record and flushes. An image without it is refused as truncated.
  void finish();

  uint64_t bytes_written() const { return offset_; }

 private:
  void put(const void* data, size_t len);
  void flush();
  void write_all(const char* data, size_t len);
  /// Writes `len` bytes at `data`, which stay valid as long as the chunks do.
  void write_borrowed(const char* data, size_t len);
  int fd_;
  std::string* out_ = nullptr;
  ImageChunks* chunks_ = nullptr;
  std::string name_;
  std::string buffer_;
  uint64_t offset_ = 0;
  uint64_t records_ = 0;
  bool finished_ = false;
};

/// Encodes the fixed-size file header (exposed for tests that forge headers).
std::string encode_header(const ImageHeader& header);

}  // namespace deja::kmod::image
