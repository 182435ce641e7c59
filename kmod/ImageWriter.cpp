#include "kmod/ImageWriter.h"

#include <unistd.h>

#include <cstring>

#include "base/Error.h"
#include "kmod/Crc32c.h"

namespace deja::kmod::image {
namespace {

constexpr size_t kFlushAt = 1 << 20;

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

}  // namespace

std::string encode_header(const ImageHeader& h) {
  std::string out(kMagic, sizeof kMagic);
  put_le(out, h.version, 4);
  put_le(out, kFileHeaderSize, 4);
  put_le(out, h.crid.value, 8);
  put_le(out, h.parent.value, 8);
  put_le(out, h.flags, 8);
  put_le(out, 0, 4);
  put_le(out, crc32c(0, out.data(), out.size()), 4);
  DEJA_CHECK(out.size() == kFileHeaderSize);
  return out;
}

ImageWriter::ImageWriter(int fd, std::string name, const ImageHeader& header)
    : fd_(fd), name_(std::move(name)) {
  std::string h = encode_header(header);
  put(h.data(), h.size());
}

ImageWriter::ImageWriter(std::string* out, std::string name, const ImageHeader& header)
    : fd_(-1), out_(out), name_(std::move(name)) {
  std::string h = encode_header(header);
  put(h.data(), h.size());
}

ImageWriter::ImageWriter(ImageChunks* out, std::string name, const ImageHeader& header)
    : fd_(-1), chunks_(out), name_(std::move(name)) {
  std::string h = encode_header(header);
  put(h.data(), h.size());
}

void ImageWriter::put(const void* data, size_t len) {
  buffer_.append(static_cast<const char*>(data), len);
  offset_ += len;
  if (buffer_.size() >= kFlushAt) flush();
}

void ImageWriter::write_all(const char* data, size_t len) {
  if (out_) {
    out_->append(data, len);
    return;
  }
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::write(fd_, data + done, len - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write", "image " + name_);
    }
    done += static_cast<size_t>(n);
  }
}

void ImageWriter::write_borrowed(const char* data, size_t len) {
  if (!chunks_) return write_all(data, len);
  if (len) chunks_->chunks.emplace_back(data, len);
}

void ImageWriter::flush() {
  if (chunks_) {
    if (buffer_.empty()) return;
    chunks_->owned.push_back(std::move(buffer_));
    chunks_->chunks.emplace_back(chunks_->owned.back());
    buffer_ = std::string();
    return;
  }
  write_all(buffer_.data(), buffer_.size());
  buffer_.clear();
}

uint64_t ImageWriter::write(const RecordBuilder& record) {
  DEJA_CHECK(!finished_);
  const std::string& head = record.head();
  std::string_view tail = record.tail();
  if (record.size() > kMaxRecordPayload)
    throw Error("image " + name_ + ": record of " + std::to_string(record.size()) +
                " bytes exceeds the format's limit");
  std::string h;
  put_le(h, static_cast<uint32_t>(record.type()), 4);
  put_le(h, 0, 4);
  put_le(h, record.size(), 8);
  put_le(h, crc32c(0, h.data(), h.size()), 4);
  put(h.data(), h.size());
  uint64_t payload_offset = offset_;
  put(head.data(), head.size());
  if (tail.size() >= kFlushAt / 4) {
    // Large data goes from the caller's memory to the fd without another copy.
    flush();
    write_borrowed(tail.data(), tail.size());
    offset_ += tail.size();
  } else {
    put(tail.data(), tail.size());
  }
  std::string t;
  put_le(t, crc32c(crc32c(0, head.data(), head.size()), tail.data(), tail.size()), 4);
  put(t.data(), t.size());
  ++records_;
  return payload_offset;
}

void ImageWriter::finish() {
  RecordBuilder end(RecordType::kEnd);
  end.u64(end::kRecordCount, records_);
  write(end);
  finished_ = true;
  flush();
}

}  // namespace deja::kmod::image
