#include "kmod/ImageReader.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "kmod/Crc32c.h"

namespace deja::kmod::image {
namespace {

uint64_t get_le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}

}  // namespace

std::shared_ptr<const MappedImage> MappedImage::open(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", "image " + path);
  struct stat sb;
  if (::fstat(fd.get(), &sb) < 0) throw_errno("fstat", "image " + path);
  auto size = static_cast<size_t>(sb.st_size);
  void* base = nullptr;  // an empty file maps nothing; reading it says it is truncated
  if (size > 0) {
    base = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
    if (base == MAP_FAILED) throw_errno("mmap", "image " + path);
  }
  return std::shared_ptr<const MappedImage>(new MappedImage(path, base, size));
}

MappedImage::~MappedImage() {
  if (base_) ::munmap(base_, size_);
}

namespace {

// A page of a mapped image that cannot be read (an I/O error, a file cut short) raises SIGBUS
// at the read. While a guarded read runs, that jumps back to it instead, and it becomes an
// error. SA_NODEFER leaves SIGBUS unblocked after the jump, so no read saves the mask.
thread_local sigjmp_buf* t_on_sigbus = nullptr;

void on_sigbus(int sig, siginfo_t*, void*) {
  if (t_on_sigbus) siglongjmp(*t_on_sigbus, 1);
  ::signal(sig, SIG_DFL);  // not a guarded read's: end as SIGBUS would have
  ::raise(sig);
}

std::mutex g_sigbus_mu;
int g_sigbus_users = 0;
struct sigaction g_sigbus_old {};

// Copies `len` bytes of a mapped image; false when they cannot be read. Needs a SigbusCaught.
bool copy_readable(void* out, const char* from, size_t len) {
  sigjmp_buf jump;
  if (sigsetjmp(jump, 0)) {
    t_on_sigbus = nullptr;
    return false;
  }
  t_on_sigbus = &jump;
  // The fences keep the compiler from dropping or moving the stores around an inlined copy.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  std::memcpy(out, from, len);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_on_sigbus = nullptr;
  return true;
}

std::string unreadable(uint64_t at) {
  return "the data at byte " + std::to_string(at) +
         " cannot be read (an I/O error, or the file was cut short)";
}

}  // namespace

SigbusCaught::SigbusCaught() {
  std::lock_guard lock(g_sigbus_mu);
  if (g_sigbus_users++ > 0) return;
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(SIGBUS, &sa, &g_sigbus_old) < 0) {
    --g_sigbus_users;
    throw_errno("sigaction", "SIGBUS");
  }
}

SigbusCaught::~SigbusCaught() {
  std::lock_guard lock(g_sigbus_mu);
  if (--g_sigbus_users == 0) ::sigaction(SIGBUS, &g_sigbus_old, nullptr);
}

namespace {

enum class Checked { kGood, kDamaged, kUnreadable };

Checked check(const DeferredCheck& c) {
  sigjmp_buf jump;
  if (sigsetjmp(jump, 0)) {
    t_on_sigbus = nullptr;
    return Checked::kUnreadable;
  }
  t_on_sigbus = &jump;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  bool good = crc32c(0, c.payload.data(), c.payload.size()) == c.crc;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_on_sigbus = nullptr;
  return good ? Checked::kGood : Checked::kDamaged;
}

}  // namespace

void verify_deferred(const std::vector<DeferredCheck>& checks, const std::string& name,
                     unsigned threads) {
  SigbusCaught caught;
  // Records go to whichever thread is free next: a desktop's are small and many, a big
  // process's few and large.
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (size_t i; !failed && (i = next++) < checks.size();)
      if (check(checks[i]) != Checked::kGood) failed = true;
  };
  std::vector<std::jthread> helpers;
  for (unsigned t = 1; t < threads && checks.size() > 1; ++t) helpers.emplace_back(work);
  work();
  helpers.clear();
  if (!failed) return;
  // Which one: found again on this thread, so the error names the first in image order.
  for (const DeferredCheck& c : checks) verify_one(c, name);
}

void verify_one(const DeferredCheck& c, const std::string& name) {
  Checked r = check(c);
  if (r == Checked::kUnreadable) throw Error("image " + name + ": " + unreadable(c.at));
  if (r == Checked::kDamaged)
    throw Error("image " + name + ": checksum mismatch in the data at byte " +
                std::to_string(c.at) + " (the image is damaged)");
}

void ImageReader::fail(const std::string& what) const {
  throw Error("image " + name_ + ": " + what);
}

std::string_view ImageReader::take_mapped(size_t len, const char* what) {
  std::string_view all = mapped_->bytes();
  if (all.size() - offset_ < len)
    fail("truncated: ends at byte " + std::to_string(all.size()) + " inside " + what);
  std::string_view out = all.substr(offset_, len);
  offset_ += len;
  return out;
}

void ImageReader::read_exact(void* out, size_t len, const char* what) {
  if (mapped_) {
    if (!copy_readable(out, take_mapped(len, what).data(), len)) fail(unreadable(offset_ - len));
    return;
  }
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
  read_header();
}

ImageReader::ImageReader(std::shared_ptr<const MappedImage> image, RecordType borrowed_type)
    : mapped_(std::move(image)), borrowed_type_(borrowed_type), name_(mapped_->path()) {
  sigbus_.emplace();
  read_header();
}

void ImageReader::read_header() {
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
  last_payload_offset_ = offset_;
  bool borrow = mapped_ && type == static_cast<uint32_t>(borrowed_type_);
  std::string payload;
  std::string_view borrowed;
  if (borrow) {
    borrowed = take_mapped(len, "a record payload");
    // Parsing reads the fields before the page data (a few dozen bytes): they must be
    // readable. The rest is read only by the deferred check, which catches its own errors.
    char head[256];
    if (!copy_readable(head, borrowed.data(), std::min(len, sizeof head)))
      fail(unreadable(last_payload_offset_));
  } else {
    payload.resize(len);
    read_exact(payload.data(), len, "a record payload");
  }
  unsigned char t[kRecordTrailerSize];
  read_exact(t, sizeof t, "a record checksum");
  auto crc = static_cast<uint32_t>(get_le(t, 4));
  if (borrow)
    deferred_.push_back({borrowed, crc, at});
  else if (crc != crc32c(0, payload.data(), payload.size()))
    fail("record payload checksum mismatch at byte " + std::to_string(at));
  std::optional<RecordView> parsed;
  try {
    if (borrow)
      parsed.emplace(RecordView::borrowing(type, borrowed));
    else
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
