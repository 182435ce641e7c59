// The on-disk layout of a checkpoint image, described once: framing constants, record
// types, their field numbers, and a schema table that names every field for the JSON
// decoder. docs/image-format.md is the prose version of this file; keep them in step.
#pragma once

#include <cstdint>
#include <span>
#include <vector>
#include <string_view>

namespace deja::kmod::image {

inline constexpr char kMagic[8] = {'D', 'E', 'J', 'A', 'I', 'M', 'G', '\n'};
inline constexpr uint32_t kVersion = 6;
// Version 2 added `pageinherit` records, which a version 1 reader would skip as unknown and
// so revive pages wrong: it must refuse them. Version 3 added the records of sockets, epolls,
// event fds and terminals (and the fd kinds naming them), which a version 2 reader would
// skip, reviving a process without them. Version 4 added POSIX timers, inotify instances,
// pidfds, `sysv_ipc` and `mqueue` records (with the vma kind of a System V segment and
// the fd kinds naming them), which a version 3 reader would skip likewise. Version 5 added
// `inet_socket` records (TCP and UDP, with the fd kind naming them). Version 6 added a unix
// socket's `ancillary` field (credentials and descriptors of the messages in flight), which a
// version 5 reader would skip, reviving messages without the descriptors they carry; and its
// SO_PEERCRED fields, and `inflight_file` records. Readers read all six.
inline constexpr uint32_t kOldestVersion = 1;
inline constexpr uint32_t kFileHeaderSize = 48;
inline constexpr uint32_t kRecordHeaderSize = 20;  // type, flags, length, header crc
inline constexpr uint32_t kRecordTrailerSize = 4;  // payload crc
// No record may claim more: a corrupted length is refused before anything is allocated.
inline constexpr uint64_t kMaxRecordPayload = 64ull << 20;
// Page data is cut into records of at most this many pages so readers never hold more.
inline constexpr uint64_t kMaxPagesPerRecord = 256;

/// File header flags.
inline constexpr uint64_t kFlagIncremental = 1;

enum class RecordType : uint32_t {
  kEnd = 1,          // last record: proves the image is complete
  kTask = 2,         // one process (or zombie)
  kThread = 3,       // one thread of a process: registers, FPU, signal mask
  kVma = 4,          // one mapping of a process
  kPages = 5,        // contiguous pages of one process, data inline
  kPageRef = 6,      // contiguous pages whose data lives in an older image
  kFd = 7,           // one open file descriptor
  kPipe = 8,         // one pipe: its buffer size and the bytes in flight
  kSigaction = 9,    // one signal disposition of a process
  kShmem = 10,       // one shared-memory object (shared anonymous mapping or memfd)
  kShmemPages = 11,  // contiguous pages of a shared-memory object
  kPageTable = 12,   // many page references of one process, packed (incremental chains)
  kPageInherit = 13,  // address ranges of one process whose pages are its table base's
  kUnixSocket = 14,   // one unix socket with its receive queue
  kEpoll = 15,        // one epoll instance
  kEpollTarget = 16,  // one file an epoll instance watches
  kEvent = 17,        // one eventfd, timerfd or signalfd
  kTty = 18,          // one pseudo-terminal pair
  kSysvIpc = 19,      // one System V shared memory segment, semaphore set or message queue
  kMqueue = 20,       // one POSIX message queue with its messages
  kPosixTimer = 25,    // one POSIX timer of a process
  kInotify = 26,       // one inotify instance
  kInotifyWatch = 27,  // one watch of an inotify instance
  kPidfd = 28,         // one pidfd
  kInetSocket = 29,    // one TCP or UDP socket, with an established connection's queues
  kInFlightFile = 30,  // a file open only as a descriptor in flight on a unix socket
};

/// Wire types of a field key: key = number << 1 | wire.
enum class Wire : uint32_t { kVarint = 0, kBytes = 1 };

/// How the JSON decoder shows a field.
enum class FieldKind { kUint, kInt, kHex, kString, kBytes, kBlob };

struct FieldSpec {
  uint32_t number;
  std::string_view name;
  FieldKind kind;
};

struct RecordSpec {
  RecordType type;
  std::string_view name;
  std::vector<FieldSpec> fields;
};

/// The schema entry for a record type, or nullptr for a type this version does not know.
const RecordSpec* find_record_spec(uint32_t type);

// Field numbers. Numbers are never reused; new fields get new numbers so older readers skip
// them.
namespace end {
inline constexpr uint32_t kRecordCount = 1;  // records before this one
}
namespace task {
inline constexpr uint32_t kPid = 1, kPpid = 2, kPgid = 3, kSid = 4, kComm = 5, kZombie = 6,
                          kExitStatus = 7, kUmask = 8, kCwd = 9, kRoot = 10, kExe = 11,
                          kStartCode = 12, kEndCode = 13, kStartData = 14, kEndData = 15,
                          kStartBrk = 16, kBrk = 17, kStartStack = 18, kArgStart = 19, kArgEnd = 20,
                          kEnvStart = 21, kEnvEnd = 22, kAuxv = 23, kRlimits = 24,
                          kSharedPending = 25, kUid = 26, kGid = 27, kPersonality = 28,
                          kDumpable = 29, kNoNewPrivs = 30, kSubreaper = 31, kHostPid = 32,
                          kItimers = 33, kCapabilities = 34, kCtty = 35;
}
namespace thread {
inline constexpr uint32_t kPid = 1, kTid = 2, kSigmask = 3, kXsave = 4, kPending = 5, kRseqAddr = 6,
                          kRseqLen = 7, kRseqSig = 8, kClearTid = 9, kRobustHead = 10,
                          kRobustLen = 11, kAltstackSp = 12, kAltstackFlags = 13,
                          kAltstackSize = 14, kComm = 15, kNice = 16, kPolicy = 17,
                          kRtPriority = 18, kAffinity = 19;
// user_regs_struct, in the kernel's order, as fields kRegBase + index.
inline constexpr uint32_t kRegBase = 100;
inline constexpr std::string_view kRegNames[] = {
    "r15",    "r14", "r13", "r12",     "rbp",     "rbx", "r11",      "r10", "r9",
    "r8",     "rax", "rcx", "rdx",     "rsi",     "rdi", "orig_rax", "rip", "cs",
    "eflags", "rsp", "ss",  "fs_base", "gs_base", "ds",  "es",       "fs",  "gs"};
inline constexpr uint32_t kRegCount = sizeof(kRegNames) / sizeof(kRegNames[0]);
}  // namespace thread
namespace vma {
inline constexpr uint32_t kPid = 1, kStart = 2, kEnd = 3, kProt = 4, kFlags = 5, kPgoff = 6,
                          kPath = 7, kKind = 8, kDev = 9, kInode = 10, kFileSize = 11,
                          kMtimeNs = 12, kShmemId = 13, kAdvice = 14, kShmatFlags = 15;
}
namespace pages {
inline constexpr uint32_t kPid = 1, kAddr = 2, kCount = 3, kData = 4;
}
namespace pageref {
inline constexpr uint32_t kPid = 1, kAddr = 2, kCount = 3, kCrid = 4, kOffset = 5, kCrc = 6;
}
namespace pagetable {
inline constexpr uint32_t kPid = 1, kRefs = 2;
// A pagetable record carries at most this many bytes of packed references.
inline constexpr size_t kMaxPacked = 1 << 20;
}
namespace pageinherit {
inline constexpr uint32_t kPid = 1, kBase = 2, kRanges = 3;
}
namespace fd {
inline constexpr uint32_t kPid = 1, kFd = 2, kKind = 3, kPath = 4, kPos = 5, kFlags = 6,
                          kCloexec = 7, kPipeId = 8, kShmemId = 9, kObjectId = 10;
}
namespace pipe {
inline constexpr uint32_t kId = 1, kSize = 2, kData = 3, kPath = 4;
}
namespace shmem {
inline constexpr uint32_t kId = 1, kSize = 2, kName = 3, kAnonymous = 4, kPath = 5, kMode = 6;
}
namespace shmempages {
inline constexpr uint32_t kId = 1, kOffset = 2, kCount = 3, kData = 4;
}
namespace unixsk {
inline constexpr uint32_t kId = 1, kType = 2, kState = 3, kName = 4, kPeer = 5, kPeerListener = 6,
                          kPeerGone = 7, kShutdown = 8, kBacklog = 9, kPasscred = 10, kSndbuf = 11,
                          kRcvbuf = 12, kQueue = 13, kFamily = 14, kProtocol = 15, kGroups = 16,
                          kAncillary = 17, kPeerPid = 18, kPeerUid = 19, kPeerGid = 20;
}
namespace inflight {
inline constexpr uint32_t kId = 1, kPath = 2, kFlags = 3, kPos = 4, kPipeId = 5, kShmemId = 6;
}
namespace inetsk {
inline constexpr uint32_t kId = 1, kFamily = 2, kType = 3, kProtocol = 4, kState = 5, kLocal = 6,
                          kPeer = 7, kBacklog = 8, kReuseaddr = 9, kReuseport = 10,
                          kKeepalive = 11, kNodelay = 12, kV6only = 13, kSndbuf = 14,
                          kRcvbuf = 15, kLoopbackUp = 16, kSendSeq = 17, kRecvSeq = 18,
                          kSendQueue = 19, kRecvQueue = 20, kUnsent = 21, kMss = 22,
                          kSndWscale = 23, kRcvWscale = 24, kOptions = 25, kTimestamp = 26,
                          kWindow = 27;
}
namespace epoll {
inline constexpr uint32_t kId = 1;
}
namespace epolltarget {
inline constexpr uint32_t kEpollId = 1, kFd = 2, kEvents = 3, kData = 4, kInode = 5;
}
namespace event {
inline constexpr uint32_t kId = 1, kKind = 2, kCount = 3, kSemaphore = 4, kClock = 5,
                          kTimerFlags = 6, kValueNs = 7, kIntervalNs = 8, kSigmask = 9;
}
namespace tty {
inline constexpr uint32_t kId = 1, kIndex = 2, kTermios = 3, kWinsize = 4, kPacketMode = 5,
                          kLocked = 6, kExclusive = 7, kFgPgrp = 8, kSession = 9, kToMaster = 10,
                          kToSlave = 11;
}
namespace posixtimer {
inline constexpr uint32_t kPid = 1, kId = 2, kClock = 3, kNotify = 4, kSigno = 5, kSigval = 6,
                          kThread = 7, kValueNs = 8, kIntervalNs = 9, kOverrun = 10;
}
namespace inotify {
inline constexpr uint32_t kId = 1;
}
namespace inotifywatch {
inline constexpr uint32_t kInotifyId = 1, kWd = 2, kMask = 3, kPath = 4;
}
namespace pidfd {
inline constexpr uint32_t kId = 1, kPid = 2;
}
namespace sysvipc {
inline constexpr uint32_t kKind = 1, kId = 2, kKey = 3, kMode = 4, kUid = 5, kGid = 6, kSize = 7,
                          kData = 8;
}
namespace mqueue {
inline constexpr uint32_t kName = 1, kMode = 2, kUid = 3, kGid = 4, kMaxmsg = 5, kMsgsize = 6,
                          kMessages = 7;
}
namespace sigaction {
inline constexpr uint32_t kPid = 1, kSig = 2, kHandler = 3, kFlags = 4, kRestorer = 5, kMask = 6;
}

}  // namespace deja::kmod::image
