// Reads a checkpoint image as a stream, validating as it goes: magic, version, header and
// record checksums, lengths, and the end record. Any damage becomes a deja::Error naming the
// image and the byte offset; nothing in a damaged image is ever trusted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "kmod/ImageWriter.h"
#include "kmod/Record.h"

namespace deja::kmod::image {

class ImageReader {
 public:
  /// Reads and checks the header. `fd` is borrowed.
  ImageReader(int fd, std::string name);
  ImageReader(const ImageReader&) = delete;
  ImageReader& operator=(const ImageReader&) = delete;

  const ImageHeader& header() const { return header_; }
  /// The next record, or nullopt after a valid end record. Records of unknown types are
  /// returned too (the caller skips them); the end record itself is not.
  std::optional<RecordView> next();
  /// Stream offset of the payload of the record last returned by next().
  uint64_t last_payload_offset() const { return last_payload_offset_; }

 private:
  void read_exact(void* buf, size_t len, const char* what);
  [[noreturn]] void fail(const std::string& what) const;
  int fd_;
  std::string name_;
  ImageHeader header_;
  uint64_t offset_ = 0;
  uint64_t records_ = 0;
  uint64_t last_payload_offset_ = 0;
  bool done_ = false;
  // Read-ahead buffer, so small records do not cost a syscall each.
  std::string buf_;
  size_t buf_pos_ = 0;
};

}  // namespace deja::kmod::image
