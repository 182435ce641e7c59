// The captured state of a session's process tree, in memory. Capture fills it while the
// session is frozen; the image codec writes it after the thaw; revive reads it back.
#pragma once

#include <sys/user.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kmod/ImageReader.h"
#include "kmod/Types.h"

namespace deja::kmod {

/// One thread: what the CPU and the kernel's per-thread signal state hold.
struct ThreadState {
  VPid tid;
  user_regs_struct regs{};
  std::string xsave;  // NT_X86_XSTATE, as PTRACE_GETREGSET returned it
  uint64_t sigmask = 0;
  std::string pending;  // siginfo_t records queued on this thread (PTRACE_PEEKSIGINFO)
  uint64_t rseq_addr = 0;
  uint32_t rseq_len = 0;
  uint32_t rseq_sig = 0;
  uint64_t clear_child_tid = 0;  // set_tid_address(2); pthread_join relies on it
  uint64_t robust_list = 0;      // set_robust_list(2); glibc registers one per thread
  uint64_t robust_list_len = 0;
  uint64_t altstack_sp = 0;  // sigaltstack(2)
  uint32_t altstack_flags = 0;
  uint64_t altstack_size = 0;
  std::string comm;  // threads name themselves separately (pthread_setname_np)
  int nice = 0;      // scheduling: per thread in Linux
  uint32_t policy = 0, rt_priority = 0;
  std::string affinity;  // cpu_set_t bytes from sched_getaffinity
};

enum class VmaKind : uint32_t {
  kAnon = 0,  // private anonymous (incl. heap and stacks)
  kFile = 1,  // file mapping, private or shared
  kVvar = 2,  // [vvar], [vvar_vclock] and [vdso]: moved as one block on revive
  kVvarVclock = 3,
  kVdso = 4,
  kShmem = 5,  // a shared-memory object (shared anonymous or memfd), shared or private
  kSysvShm = 6,  // a System V shared memory segment (shmem_id: its shmid), attached by shmat
};

/// One mapping, as /proc/PID/maps and smaps describe it.
struct Vma {
  uint64_t start = 0, end = 0;
  uint32_t prot = 0;   // PROT_*
  uint32_t flags = 0;  // MAP_PRIVATE or MAP_SHARED, plus MAP_ANONYMOUS / MAP_GROWSDOWN
  uint64_t pgoff = 0;  // in bytes
  std::string path;    // file, relative to the process's root
  VmaKind kind = VmaKind::kAnon;
  // Identity of the mapped file at capture, checked again on revive.
  uint64_t dev = 0, inode = 0, file_size = 0, mtime_ns = 0;
  uint64_t shmem_id = 0;  // kShmem: the object's inode number; kSysvShm: the shmid
  uint32_t shmat_flags = 0;  // kSysvShm: SHM_RDONLY when the attach may never be written
  uint32_t advice = 0;    // VmaAdvice bits: madvise/mlock state to apply again
};

/// madvise(2)/mlock(2) state of a mapping, from the VmFlags line of /proc/PID/smaps.
enum VmaAdvice : uint32_t {
  kAdviceDontFork = 1 << 0,    // dc: MADV_DONTFORK
  kAdviceWipeOnFork = 1 << 1,  // wf: MADV_WIPEONFORK
  kAdviceDontDump = 1 << 2,    // dd: MADV_DONTDUMP
  kAdviceHugePage = 1 << 3,    // hg: MADV_HUGEPAGE
  kAdviceNoHugePage = 1 << 4,  // nh: MADV_NOHUGEPAGE
  kAdviceMergeable = 1 << 5,   // mg: MADV_MERGEABLE
  kAdviceSequential = 1 << 6,  // sr: MADV_SEQUENTIAL
  kAdviceRandom = 1 << 7,      // rr: MADV_RANDOM
  kAdviceLocked = 1 << 8,      // lo: mlock
  kAdviceAccounted = 1 << 9,   // ac: charged to the commit limit (was writable and private)
};

/// Contiguous pages of one process. Either the data is here, or it lives in an older image
/// (the layout for incremental chains: data_crid != 0, data_offset = where in that image).
struct PageExtent {
  uint64_t addr = 0;
  uint64_t count = 0;
  std::string data;
  Crid data_crid;
  uint64_t data_offset = 0;
  uint32_t data_crc = 0;  // CRC32C of the referenced bytes, checked when they are fetched
  // Revive only: the bytes, left in a mapped image (TreeState::mapped_images) instead of
  // being read into `data`; usable once TreeState::unverified is empty.
  std::string_view mapped;
};

enum class FdKind : uint32_t {
  kFile = 0,
  kPipe = 1,
  kShmem = 2,
  kUnixSocket = 3,  // object_id: a UnixSocketState
  kEpoll = 4,       // object_id: an EpollState
  kEventfd = 5,     // object_id: an EventState of kind kEventfd
  kTimerfd = 6,     // ... kTimerfd
  kSignalfd = 7,    // ... kSignalfd
  kPtyMaster = 8,   // object_id: a TtyState (the pty's index + 1)
  kPtySlave = 9,    // object_id: a TtyState
  kInotify = 10,    // object_id: an InotifyState
  kPidfd = 11,      // object_id: a PidfdState
  kMqueue = 12,     // path: a POSIX message queue's name ("/NAME"), an MqueueState
  kInetSocket = 13,  // object_id: an InetSocketState
};

struct FdState {
  int fd = -1;
  FdKind kind = FdKind::kFile;
  std::string path;  // kFile: relative to the process's root
  uint64_t pos = 0;
  uint32_t flags = 0;  // O_ACCMODE | O_APPEND | O_NONBLOCK ... from fdinfo
  bool cloexec = false;
  uint64_t pipe_id = 0;   // kPipe: the pipe's inode number, shared by both ends
  uint64_t shmem_id = 0;  // kShmem: a memfd
  uint64_t object_id = 0;  // the newer kinds: the object in TreeState's lists
};

/// A shared-memory object: the memory behind MAP_SHARED|MAP_ANONYMOUS mappings, a memfd, or
/// a regular file unlinked while open or mapped (whose data exists nowhere else).
/// Its pages are kept once, however many processes map it; `pages[i].addr` is an offset.
struct ShmemState {
  uint64_t id = 0;  // inode number, unique while the checkpoint holds the tree
  uint64_t size = 0;
  std::string name;  // memfd name, or empty for shared anonymous memory
  bool anonymous = false;
  std::string path;  // set for a regular file unlinked while open or mapped
  uint32_t mode = 0;
  std::vector<PageExtent> pages;
  // [start, end) address ranges whose pages are exactly those of the same process (same
  // PID) in the tree's table base: the incremental image lists them instead of a reference
  // per extent (PageRefs.h: inherit_pages makes them inline again).
  std::vector<std::pair<uint64_t, uint64_t>> inherited;
};

struct PipeState {
  uint64_t id = 0;
  uint64_t size = 0;  // F_GETPIPE_SZ
  std::string data;   // bytes in flight
  std::string path;   // a named FIFO's path; empty for an anonymous pipe
};

/// A unix socket (stream, seqpacket or datagram), kept once per tree however many fds
/// refer to it. The peer is another socket of the tree (`peer`), a connection a listener of
/// the tree has not accepted yet (`peer_listener`), or nothing the tree has: a peer outside
/// the session comes back closed, as after a real disconnect.
struct UnixSocketState {
  uint64_t id = 0;     // the socket's inode
  uint32_t type = 0;   // SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET
  uint32_t state = 0;  // kSocket* below
  std::string name;    // bound address: a path, or '\0' + an abstract name; empty: unbound
  uint64_t peer = 0;   // the connected socket's id, when it is in the tree
  uint64_t peer_listener = 0;  // connecting to this listener, not accepted yet
  bool peer_gone = false;      // connected once, its peer is closed or outside the session
  uint32_t shutdown = 0;       // RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2
  uint32_t backlog = 0;        // listening sockets
  uint32_t passcred = 0;
  uint64_t sndbuf = 0, rcvbuf = 0;  // as getsockopt reports them (the kernel's doubled value)
  std::string queue;  // the receive queue: per message, a varint length and its bytes
  // Per message of `queue`, in order (empty in images before version 6): varints of the
  // credentials it came with (pid in the session, 0 when the receiver cannot see it or none
  // came; uid; gid), the number of descriptors it carries and, for each, its fd kind and the id
  // of the object (the id an FdState of that kind would name).
  std::string ancillary;
  // SO_PEERCRED: the process that made the connection's other end (or the pair, or the
  // listener) as the session saw it; pid 0 when it is not a process of the session.
  uint32_t peer_pid = 0, peer_uid = 0, peer_gid = 0;
  // A netlink socket (audit, uevents) comes back as a new socket of its protocol in its
  // multicast groups, with an empty queue and a port id of the kernel's choosing.
  uint32_t family = 1;  // AF_UNIX or AF_NETLINK (16)
  uint32_t protocol = 0, groups = 0;  // AF_NETLINK: NETLINK_*, and nl_groups
};
inline constexpr uint32_t kSocketUnconnected = 0, kSocketListening = 1, kSocketConnected = 2;

/// A regular file, directory, pipe end or memfd open only as a descriptor in flight on a unix
/// socket (sent, then closed by its sender): reopened (a file by path at its offset, a pipe's end
/// from the pipe, a memfd from the object) when its message is sent again.
struct InFlightFileState {
  uint64_t id = 0;     // the id a socket's `ancillary` names it by (fd kind kFile, kPipe, kShmem)
  std::string path;    // relative to the session's root
  uint32_t flags = 0;  // O_* from fdinfo
  uint64_t pos = 0;
  uint64_t pipe_id = 0;   // a pipe's end: the PipeState (path empty)
  uint64_t shmem_id = 0;  // a memfd: the ShmemState (path empty)
};

/// A TCP or UDP socket (IPv4 or IPv6) of the session's network namespace, kept once per tree.
/// An established TCP connection is read and rebuilt in the kernel's repair mode: sequence
/// numbers, negotiated options, windows and both queues; its peer is whatever socket holds
/// the other end in the same namespace, so each end comes back on its own.
struct InetSocketState {
  uint64_t id = 0;  // the socket's inode
  uint32_t family = 0, type = 0, protocol = 0;
  uint32_t state = 0;   // kSocketUnconnected (maybe bound), kSocketListening, kSocketConnected
  std::string local;    // struct sockaddr_in/_in6 as getsockname gave it; empty: unbound
  std::string peer;     // getpeername's; empty: none
  uint32_t backlog = 0;  // listening sockets
  uint32_t reuseaddr = 0, reuseport = 0, keepalive = 0, nodelay = 0, v6only = 0;
  uint64_t sndbuf = 0, rcvbuf = 0;
  uint32_t loopback_up = 0;  // the namespace's loopback was up (a branch's is set likewise)
  // Established TCP: the sequence number of the first byte of each queue, the queues, the
  // part of the send queue never sent, and what the handshake negotiated.
  uint32_t send_seq = 0, recv_seq = 0;
  std::string send_queue, recv_queue;
  uint64_t unsent = 0;
  uint32_t mss = 0, snd_wscale = 0, rcv_wscale = 0, options = 0;  // options: TCPI_OPT_*
  uint32_t timestamp = 0;  // TCP_TIMESTAMP: the connection's clock
  std::string window;      // struct tcp_repair_window
};

/// One file an epoll instance watches, registered through fd `fd` of the instance's first
/// holder, as epoll keys it (file, fd number).
struct EpollTarget {
  int fd = -1;
  uint32_t events = 0;  // EPOLLIN... with EPOLLET, EPOLLONESHOT
  uint64_t data = 0;
  uint64_t inode = 0;  // the watched file's, checked against the fd at capture
};

struct EpollState {
  uint64_t id = 0;  // an id of the capture's (anon inodes share one inode)
  std::vector<EpollTarget> targets;
};

enum class EventKind : uint32_t { kEventfd = 0, kTimerfd = 1, kSignalfd = 2 };

/// An eventfd, timerfd or signalfd.
struct EventState {
  uint64_t id = 0;
  EventKind kind = EventKind::kEventfd;
  uint64_t count = 0;      // eventfd: the counter; timerfd: expirations not read yet
  uint32_t semaphore = 0;  // eventfd: EFD_SEMAPHORE
  int32_t clock = 0;       // timerfd: clock id
  uint32_t timer_flags = 0;  // timerfd: TFD_TIMER_ABSTIME... as last set
  uint64_t value_ns = 0, interval_ns = 0;  // timerfd: time left, period
  uint64_t sigmask = 0;  // signalfd
};

/// One watch of an inotify instance, on a path of the session.
struct InotifyWatch {
  int32_t wd = 0;      // the watch descriptor programs hold: it comes back the same
  uint32_t mask = 0;   // IN_* events and flags (IN_ONLYDIR, IN_EXCL_UNLINK, ...)
  std::string path;    // relative to the root of the instance's first holder
};

struct InotifyState {
  uint64_t id = 0;  // an id of the capture's
  std::vector<InotifyWatch> watches;
};

/// A pidfd (pidfd_open) of a process of the tree.
struct PidfdState {
  uint64_t id = 0;
  VPid pid;  // in the session
};

/// A POSIX timer (timer_create) of a process.
struct PosixTimerState {
  int32_t id = 0;     // the timer id programs hold: it comes back the same
  int32_t clock = 0;
  uint32_t notify = 0;  // SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD, SIGEV_THREAD_ID
  uint32_t signo = 0;
  uint64_t sigval = 0;  // sigev_value
  VPid thread;          // SIGEV_THREAD_ID: the thread notified, in the session
  uint64_t value_ns = 0, interval_ns = 0;  // time left, period
  int32_t overrun = 0;  // timer_getoverrun at the checkpoint (not restorable: recorded only)
};

/// A pseudo-terminal pair of the session's devpts instance.
struct TtyState {
  uint64_t id = 0;  // the pty's index + 1
  uint32_t index = 0;
  std::string termios;  // struct termios2 of the slave (TCGETS2)
  std::string winsize;  // struct winsize
  uint32_t packet_mode = 0, locked = 0, exclusive = 0;
  int32_t fg_pgrp = 0;  // foreground process group, in the session's namespace (0: none)
  int32_t session = 0;  // the session it controls (0: none)
  // Bytes in flight: written by the slave's side and not read by the master's yet, and
  // typed into the master and not read by the slave's side yet (kept only while the slave
  // is in non-canonical mode: a canonical line being typed cannot be read out).
  std::string to_master, to_slave;
};

enum class IpcKind : uint32_t { kShm = 0, kSem = 1, kMsg = 2 };

/// A System V IPC object of the session's IPC namespace, revived at the same id and key.
struct SysvIpcState {
  IpcKind kind = IpcKind::kShm;
  int32_t id = 0;
  int32_t key = 0;    // IPC_PRIVATE (0) once a segment is marked removed
  uint32_t mode = 0;  // permission bits, plus SHM_DEST (removed while attached) and SHM_LOCKED
  uint32_t uid = 0, gid = 0;
  uint64_t size = 0;  // shm: bytes; sem: semaphores in the set; msg: msg_qbytes
  // shm: the segment's bytes; sem: each semaphore's value (u16); msg: per message in queue
  // order its type (u64), its length (u64) and its bytes.
  std::string data;
};

/// A POSIX message queue of the session's IPC namespace.
struct MqueueState {
  std::string name;  // "/NAME"
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t maxmsg = 0, msgsize = 0;
  std::string messages;  // per message in receive order: priority (u64), length (u64), bytes
};

struct SigactionState {
  int sig = 0;
  uint64_t handler = 0, flags = 0, restorer = 0, mask = 0;
};

/// Fields of prctl(PR_SET_MM_MAP), from /proc/PID/stat.
struct MmLayout {
  uint64_t start_code = 0, end_code = 0, start_data = 0, end_data = 0, start_brk = 0, brk = 0,
           start_stack = 0, arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
  std::string auxv;  // raw /proc/PID/auxv
};

struct ProcessState {
  VPid pid, ppid, pgid, sid;
  HostPid host_pid;  // for diagnostics only; meaningless after the capture
  std::string comm;
  bool zombie = false;
  int exit_status = 0;  // zombies: the wait status the parent will reap
  uint32_t umask = 022;
  std::string cwd, root, exe;
  MmLayout mm;
  std::vector<std::array<uint64_t, 2>> rlimits;  // RLIMIT_* in order: cur, max
  std::string shared_pending;                    // siginfo_t records queued on the process
  uint32_t uid = 0, gid = 0;
  uint64_t personality = 0;
  uint32_t dumpable = 1, no_new_privs = 0, child_subreaper = 0;
  std::string capabilities;  // "CapInh CapPrm CapEff CapBnd CapAmb" from /proc/PID/status
  uint64_t ctty = 0;         // controlling terminal: a TtyState id (0: none)
  std::string itimers;       // struct itimerval for ITIMER_REAL, _VIRTUAL, _PROF (remaining time)
  std::vector<ThreadState> threads;  // threads[0] is the thread group leader
  std::vector<Vma> vmas;
  std::vector<PageExtent> pages;
  // [start, end) address ranges whose pages are exactly those of the same process (same
  // PID) in the tree's table base: the incremental image lists them instead of a reference
  // per extent (PageRefs.h: inherit_pages makes them inline again).
  std::vector<std::pair<uint64_t, uint64_t>> inherited;
  std::vector<FdState> fds;
  std::vector<SigactionState> sigactions;  // only signals not at SIG_DFL
  std::vector<PosixTimerState> posix_timers;
};

/// Everything one checkpoint captured.
struct TreeState {
  Crid crid, parent;
  Crid table_base;  // the image `inherited` ranges refer to (0: none)
  std::vector<ProcessState> processes;  // parents before children; [0] is the session's init
  std::vector<PipeState> pipes;
  std::vector<ShmemState> shmems;
  std::vector<UnixSocketState> unix_sockets;
  std::vector<InetSocketState> inet_sockets;
  std::vector<InFlightFileState> in_flight_files;
  std::vector<EpollState> epolls;
  std::vector<EventState> events;
  std::vector<TtyState> ttys;
  std::vector<InotifyState> inotifies;
  std::vector<PidfdState> pidfds;
  std::vector<SysvIpcState> sysv_ipc;  // of the session's IPC namespace
  std::vector<MqueueState> mqueues;    // likewise

  // Revive only (read_tree_image_mapped, map_page_refs): the images holding the extents'
  // `mapped` bytes, and their checksums still to be checked (check_mapped_pages) before the
  // bytes are used.
  std::vector<std::shared_ptr<const image::MappedImage>> mapped_images;
  struct Unverified {
    std::string image;  // its path, for the error
    std::vector<image::DeferredCheck> checks;
  };
  std::vector<Unverified> unverified;

  /// Total bytes of page data held inline.
  uint64_t page_bytes() const;
};

}  // namespace deja::kmod
