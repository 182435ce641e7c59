#include "kmod/ImageReader.h"

#include <unistd.h>

#include <cstring>

#include "base/Error.h"
#include "kmod/Crc32c.h"

namespace deja::kmod::image {
namespace {

uint64_t get_le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}

}  // namespace

void ImageReader::fail(const std::string& what) const {
  throw Error("image " + name_ + ": " + what);
}

void ImageReader::read_exact(void* out, size_t len, const char* what) {
  auto* dst = static_cast<char*>(out);
  size_t done = 0;
  while (done < len) {
    if (buf_pos_ == buf_.size()) {
      buf_.resize(1 << 20);
      buf_pos_ = 0;
      ssize_t n;
      do n = ::read(fd_, buf_.data(), buf_.size());
      while (n < 0 && errno == EINTR);
      if (n < 0) throw_errno("read", "image " + name_);
      buf_.resize(static_cast<size_t>(n));
      if (n == 0)
        fail("truncated: ends at byte " + std::to_string(offset_ + done) + " inside " + what);
    }
    size_t take = std::min(len - done, buf_.size() - buf_pos_);
    std::memcpy(dst + done, buf_.data() + buf_pos_, take);
    buf_pos_ += take;
    done += take;
  }
  offset_ += len;
}

ImageReader::ImageReader(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
  unsigned char h[kFileHeaderSize];
  read_exact(h, sizeof h, "the file header");
  if (std::memcmp(h, kMagic, sizeof kMagic) != 0) fail("not a Deja image (bad magic)");
  header_.version = static_cast<uint32_t>(get_le(h + 8, 4));
  if (header_.version < kOldestVersion || header_.version > kVersion)
    fail("unsupported image version " + std::to_string(header_.version) + " (this build reads " +
         std::to_string(kOldestVersion) + " to " + std::to_string(kVersion) +
         (header_.version > kVersion ? "; use a newer deja)" : ")"));
  if (get_le(h + 12, 4) != kFileHeaderSize) fail("bad header size");
  if (get_le(h + 44, 4) != crc32c(0, h, 44)) fail("file header checksum mismatch");
  header_.crid.value = get_le(h + 16, 8);
  header_.parent.value = get_le(h + 24, 8);
  header_.flags = get_le(h + 32, 8);
}

std::optional<RecordView> ImageReader::next() {
  if (done_) return std::nullopt;
  uint64_t at = offset_;
  unsigned char h[kRecordHeaderSize];
  read_exact(h, sizeof h, "a record header");
  if (get_le(h + 16, 4) != crc32c(0, h, 16))
    fail("record header checksum mismatch at byte " + std::to_string(at));
  auto type = static_cast<uint32_t>(get_le(h, 4));
  uint64_t len = get_le(h + 8, 8);
  if (len > kMaxRecordPayload)
    fail("record at byte " + std::to_string(at) + " claims " + std::to_string(len) +
         " bytes, over the limit");
  std::string payload(len, '\0');
  last_payload_offset_ = offset_;
  read_exact(payload.data(), len, "a record payload");
  unsigned char t[kRecordTrailerSize];
  read_exact(t, sizeof t, "a record checksum");
  if (get_le(t, 4) != crc32c(0, payload.data(), payload.size()))
    fail("record payload checksum mismatch at byte " + std::to_string(at));
  std::optional<RecordView> parsed;
  try {
    parsed.emplace(type, std::move(payload));
  } catch (const Error& e) {
    fail(std::string(e.what()) + " (record at byte " + std::to_string(at) + ")");
  }
  RecordView& view = *parsed;
  if (type == static_cast<uint32_t>(RecordType::kEnd)) {
    if (view.u64(end::kRecordCount) != records_)
      fail("end record counts " + std::to_string(view.u64(end::kRecordCount)) +
           " records but the image holds " + std::to_string(records_));
    done_ = true;
    return std::nullopt;
  }
  ++records_;
  return std::move(*parsed);
}

}  // namespace deja::kmod::image
