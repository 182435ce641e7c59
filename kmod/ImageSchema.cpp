#include <array>

#include "kmod/ImageFormat.h"
#include "kmod/ImageTables.h"

namespace deja::kmod::image {
namespace {

constexpr FieldSpec kEndFields[] = {{end::kRecordCount, "record_count", K::kUint}};

constexpr FieldSpec kPagesFields[] = {
    {pages::kPid, "pid", K::kInt},
    {pages::kAddr, "addr", K::kHex},
    {pages::kCount, "count", K::kUint},
    {pages::kData, "data", K::kBlob},
};

constexpr FieldSpec kPageRefFields[] = {
    {pageref::kPid, "pid", K::kInt},        {pageref::kAddr, "addr", K::kHex},
    {pageref::kCount, "count", K::kUint},   {pageref::kCrid, "crid", K::kUint},
    {pageref::kOffset, "offset", K::kUint}, {pageref::kCrc, "crc32c", K::kHex},
};

constexpr FieldSpec kPageTableFields[] = {
    {pagetable::kPid, "pid", K::kInt},
    {pagetable::kRefs, "refs", K::kBlob},
};

constexpr FieldSpec kPageInheritFields[] = {
    {pageinherit::kPid, "pid", K::kInt},
    {pageinherit::kBase, "base_crid", K::kUint},
    {pageinherit::kRanges, "ranges", K::kBlob},
};

constexpr FieldSpec kShmemPagesFields[] = {
    {shmempages::kId, "id", K::kUint},
    {shmempages::kOffset, "offset", K::kUint},
    {shmempages::kCount, "count", K::kUint},
    {shmempages::kData, "data", K::kBlob},
};

FieldSpec spec_of(const FieldSpec& f) { return f; }
template <class T>
FieldSpec spec_of(const Field<T>& f) { return f.spec; }

template <class Table>
std::vector<FieldSpec> specs(const Table& table) {
  std::vector<FieldSpec> out;
  for (const auto& f : table) out.push_back(spec_of(f));
  return out;
}

const std::vector<RecordSpec>& records() {
  static const std::vector<RecordSpec> kRecords = {
      {RecordType::kEnd, "end", specs(kEndFields)},
      {RecordType::kTask, "task", specs(kTaskFields)},
      {RecordType::kThread, "thread", specs(kThreadFields)},
      {RecordType::kVma, "vma", specs(kVmaFields)},
      {RecordType::kPages, "pages", specs(kPagesFields)},
      {RecordType::kPageRef, "pageref", specs(kPageRefFields)},
      {RecordType::kFd, "fd", specs(kFdFields)},
      {RecordType::kPipe, "pipe", specs(kPipeFields)},
      {RecordType::kSigaction, "sigaction", specs(kSigactionFields)},
      {RecordType::kShmem, "shmem", specs(kShmemFields)},
      {RecordType::kShmemPages, "shmem_pages", specs(kShmemPagesFields)},
      {RecordType::kPageTable, "pagetable", specs(kPageTableFields)},
      {RecordType::kPageInherit, "pageinherit", specs(kPageInheritFields)},
      {RecordType::kUnixSocket, "unix_socket", specs(kUnixSocketFields)},
      {RecordType::kInetSocket, "inet_socket", specs(kInetSocketFields)},
      {RecordType::kInFlightFile, "inflight_file", specs(kInFlightFileFields)},
      {RecordType::kEpoll, "epoll", specs(kEpollFields)},
      {RecordType::kEpollTarget, "epoll_target", specs(kEpollTargetFields)},
      {RecordType::kEvent, "event", specs(kEventFields)},
      {RecordType::kTty, "tty", specs(kTtyFields)},
      {RecordType::kPosixTimer, "posix_timer", specs(kPosixTimerFields)},
      {RecordType::kInotify, "inotify", specs(kInotifyFields)},
      {RecordType::kInotifyWatch, "inotify_watch", specs(kInotifyWatchFields)},
      {RecordType::kPidfd, "pidfd", specs(kPidfdFields)},
      {RecordType::kSysvIpc, "sysv_ipc", specs(kSysvIpcFields)},
      {RecordType::kMqueue, "mqueue", specs(kMqueueFields)},
  };
  return kRecords;
}

}  // namespace

const RecordSpec* find_record_spec(uint32_t type) {
  for (const RecordSpec& r : records())
    if (static_cast<uint32_t>(r.type) == type) return &r;
  return nullptr;
}

}  // namespace deja::kmod::image
