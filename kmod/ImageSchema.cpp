#include <array>

#include "kmod/ImageFormat.h"

namespace deja::kmod::image {
namespace {

using K = FieldKind;

constexpr FieldSpec kEndFields[] = {{end::kRecordCount, "record_count", K::kUint}};

constexpr FieldSpec kTaskFields[] = {
    {task::kPid, "pid", K::kInt},
    {task::kPpid, "ppid", K::kInt},
    {task::kPgid, "pgid", K::kInt},
    {task::kSid, "sid", K::kInt},
    {task::kComm, "comm", K::kString},
    {task::kZombie, "zombie", K::kUint},
    {task::kExitStatus, "exit_status", K::kInt},
    {task::kUmask, "umask", K::kUint},
    {task::kCwd, "cwd", K::kString},
    {task::kRoot, "root", K::kString},
    {task::kExe, "exe", K::kString},
    {task::kStartCode, "start_code", K::kHex},
    {task::kEndCode, "end_code", K::kHex},
    {task::kStartData, "start_data", K::kHex},
    {task::kEndData, "end_data", K::kHex},
    {task::kStartBrk, "start_brk", K::kHex},
    {task::kBrk, "brk", K::kHex},
    {task::kStartStack, "start_stack", K::kHex},
    {task::kArgStart, "arg_start", K::kHex},
    {task::kArgEnd, "arg_end", K::kHex},
    {task::kEnvStart, "env_start", K::kHex},
    {task::kEnvEnd, "env_end", K::kHex},
    {task::kAuxv, "auxv", K::kBytes},
    {task::kRlimits, "rlimits", K::kBytes},
    {task::kSharedPending, "shared_pending", K::kBytes},
    {task::kUid, "uid", K::kUint},
    {task::kGid, "gid", K::kUint},
    {task::kPersonality, "personality", K::kHex},
    {task::kDumpable, "dumpable", K::kUint},
    {task::kNoNewPrivs, "no_new_privs", K::kUint},
    {task::kSubreaper, "child_subreaper", K::kUint},
    {task::kHostPid, "host_pid", K::kInt},
    {task::kItimers, "itimers", K::kBytes},
    {task::kCapabilities, "capabilities", K::kString},
};

// Registers are generated from their names so the table cannot drift from the struct.
constexpr auto make_thread_fields() {
  std::array<FieldSpec, 19 + thread::kRegCount> f{{
      {thread::kPid, "pid", K::kInt},
      {thread::kTid, "tid", K::kInt},
      {thread::kSigmask, "sigmask", K::kHex},
      {thread::kXsave, "xsave", K::kBytes},
      {thread::kPending, "pending", K::kBytes},
      {thread::kRseqAddr, "rseq_addr", K::kHex},
      {thread::kRseqLen, "rseq_len", K::kUint},
      {thread::kRseqSig, "rseq_sig", K::kHex},
      {thread::kClearTid, "clear_child_tid", K::kHex},
      {thread::kRobustHead, "robust_list", K::kHex},
      {thread::kRobustLen, "robust_list_len", K::kUint},
      {thread::kAltstackSp, "altstack_sp", K::kHex},
      {thread::kAltstackFlags, "altstack_flags", K::kUint},
      {thread::kAltstackSize, "altstack_size", K::kUint},
      {thread::kComm, "comm", K::kString},
      {thread::kNice, "nice", K::kInt},
      {thread::kPolicy, "sched_policy", K::kUint},
      {thread::kRtPriority, "rt_priority", K::kUint},
      {thread::kAffinity, "affinity", K::kBytes},
  }};
  for (uint32_t i = 0; i < thread::kRegCount; ++i)
    f[19 + i] = {thread::kRegBase + i, thread::kRegNames[i], K::kHex};
  return f;
}
constexpr auto kThreadFields = make_thread_fields();

constexpr FieldSpec kVmaFields[] = {
    {vma::kPid, "pid", K::kInt},
    {vma::kStart, "start", K::kHex},
    {vma::kEnd, "end", K::kHex},
    {vma::kProt, "prot", K::kUint},
    {vma::kFlags, "flags", K::kHex},
    {vma::kPgoff, "pgoff", K::kUint},
    {vma::kPath, "path", K::kString},
    {vma::kKind, "kind", K::kUint},
    {vma::kDev, "dev", K::kHex},
    {vma::kInode, "inode", K::kUint},
    {vma::kFileSize, "file_size", K::kUint},
    {vma::kMtimeNs, "mtime_ns", K::kUint},
    {vma::kShmemId, "shmem_id", K::kUint},
    {vma::kAdvice, "advice", K::kHex},
};

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

constexpr FieldSpec kFdFields[] = {
    {fd::kPid, "pid", K::kInt},           {fd::kFd, "fd", K::kInt},
    {fd::kKind, "kind", K::kUint},        {fd::kPath, "path", K::kString},
    {fd::kPos, "pos", K::kUint},          {fd::kFlags, "flags", K::kHex},
    {fd::kCloexec, "cloexec", K::kUint},  {fd::kPipeId, "pipe_id", K::kUint},
    {fd::kShmemId, "shmem_id", K::kUint},
};

constexpr FieldSpec kShmemFields[] = {
    {shmem::kId, "id", K::kUint},
    {shmem::kSize, "size", K::kUint},
    {shmem::kName, "name", K::kString},
    {shmem::kAnonymous, "anonymous", K::kUint},
    {shmem::kPath, "deleted_path", K::kString},
    {shmem::kMode, "mode", K::kUint},
};

constexpr FieldSpec kShmemPagesFields[] = {
    {shmempages::kId, "id", K::kUint},
    {shmempages::kOffset, "offset", K::kUint},
    {shmempages::kCount, "count", K::kUint},
    {shmempages::kData, "data", K::kBlob},
};

constexpr FieldSpec kPipeFields[] = {
    {pipe::kId, "id", K::kUint},
    {pipe::kSize, "size", K::kUint},
    {pipe::kData, "data", K::kBytes},
    {pipe::kPath, "fifo_path", K::kString},
};

constexpr FieldSpec kSigactionFields[] = {
    {sigaction::kPid, "pid", K::kInt},           {sigaction::kSig, "sig", K::kInt},
    {sigaction::kHandler, "handler", K::kHex},   {sigaction::kFlags, "flags", K::kHex},
    {sigaction::kRestorer, "restorer", K::kHex}, {sigaction::kMask, "mask", K::kHex},
};

constexpr RecordSpec kRecords[] = {
    {RecordType::kEnd, "end", kEndFields},
    {RecordType::kTask, "task", kTaskFields},
    {RecordType::kThread, "thread", kThreadFields},
    {RecordType::kVma, "vma", kVmaFields},
    {RecordType::kPages, "pages", kPagesFields},
    {RecordType::kPageRef, "pageref", kPageRefFields},
    {RecordType::kFd, "fd", kFdFields},
    {RecordType::kPipe, "pipe", kPipeFields},
    {RecordType::kSigaction, "sigaction", kSigactionFields},
    {RecordType::kShmem, "shmem", kShmemFields},
    {RecordType::kShmemPages, "shmem_pages", kShmemPagesFields},
    {RecordType::kPageTable, "pagetable", kPageTableFields},
    {RecordType::kPageInherit, "pageinherit", kPageInheritFields},
};

}  // namespace

const RecordSpec* find_record_spec(uint32_t type) {
  for (const RecordSpec& r : kRecords)
    if (static_cast<uint32_t>(r.type) == type) return &r;
  return nullptr;
}

}  // namespace deja::kmod::image
