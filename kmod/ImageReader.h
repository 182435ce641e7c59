// Reads a checkpoint image as a stream, validating as it goes: magic, version, header and
// record checksums, lengths, and the end record. Any damage becomes a deja::Error naming the
// image and the byte offset; nothing in a damaged image is ever trusted.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kmod/ImageWriter.h"
#include "kmod/Record.h"

namespace deja::kmod::image {

/// An image file mapped read-only, whole. Images are never changed once written, and a revive
/// holds the store lock that keeps gc and compaction from deleting them meanwhile.
class MappedImage {
 public:
  /// Throws deja::Error naming `path` when it cannot be opened or mapped.
  static std::shared_ptr<const MappedImage> open(const std::string& path);
  MappedImage(const MappedImage&) = delete;
  MappedImage& operator=(const MappedImage&) = delete;
  ~MappedImage();

  std::string_view bytes() const { return {static_cast<const char*>(base_), size_}; }
  const std::string& path() const { return path_; }

 private:
  MappedImage(std::string path, void* base, size_t size)
      : path_(std::move(path)), base_(base), size_(size) {}
  std::string path_;
  void* base_;
  size_t size_;
};

/// While one lives, a read of a mapped image that fails (an I/O error, a file cut short: the
/// kernel's SIGBUS) can be caught by the reads below instead of killing the process. The
/// handler is the process's while any instance lives, on any thread; then the previous one
/// comes back.
class SigbusCaught {
 public:
  SigbusCaught();
  ~SigbusCaught();
  SigbusCaught(const SigbusCaught&) = delete;
  SigbusCaught& operator=(const SigbusCaught&) = delete;
};

/// A record payload whose checksum a mapped reader left to be checked later (verify_deferred)
/// because the record's bytes are used only later, straight from the mapping.
struct DeferredCheck {
  std::string_view payload;
  uint32_t crc = 0;
  uint64_t at = 0;  // the record's byte offset in the image, for the error
};

/// Checks every deferred payload's CRC32C, on `threads` threads; throws deja::Error naming the
/// image and the record of the first mismatch.
void verify_deferred(const std::vector<DeferredCheck>& checks, const std::string& name,
                     unsigned threads);
/// Checks one deferred payload's CRC32C on this thread; throws deja::Error naming the image
/// and the record when it is damaged or cannot be read. A SigbusCaught must be alive.
void verify_one(const DeferredCheck& c, const std::string& name);

class ImageReader {
 public:
  /// Reads and checks the header. `fd` is borrowed.
  ImageReader(int fd, std::string name);
  /// Reads a mapped image. Payloads of records of type `borrowed_type` are not copied: their
  /// RecordView borrows the mapping, and their checksum is left to deferred() instead.
  ImageReader(std::shared_ptr<const MappedImage> image, RecordType borrowed_type);
  ImageReader(const ImageReader&) = delete;
  ImageReader& operator=(const ImageReader&) = delete;

  const ImageHeader& header() const { return header_; }
  /// The next record, or nullopt after a valid end record. Records of unknown types are
  /// returned too (the caller skips them); the end record itself is not.
  std::optional<RecordView> next();
  /// Stream offset of the payload of the record last returned by next().
  uint64_t last_payload_offset() const { return last_payload_offset_; }
  /// The checksums of borrowed payloads, still to be checked (mapped reader only).
  const std::vector<DeferredCheck>& deferred() const { return deferred_; }

 private:
  void read_header();
  void read_exact(void* buf, size_t len, const char* what);
  /// Mapped reader: the next `len` bytes, in place.
  std::string_view take_mapped(size_t len, const char* what);
  [[noreturn]] void fail(const std::string& what) const;
  int fd_ = -1;
  std::shared_ptr<const MappedImage> mapped_;
  RecordType borrowed_type_ = RecordType::kEnd;
  std::vector<DeferredCheck> deferred_;
  std::optional<SigbusCaught> sigbus_;  // mapped reader: its reads fail as errors
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
