// Kernel objects behind fds beyond files, pipes and shared memory: unix, TCP and UDP sockets, epoll
// instances, eventfd/timerfd/signalfd, inotify instances, pidfds and pseudo-terminals. Each
// kind's capture and revive live together in one file of this folder (UnixSockets.cpp, InetSockets.cpp,
// Epoll.cpp, EventFds.cpp, Inotify.cpp, Pidfds.cpp, Terminals.cpp); this header is what the process capture and fill drivers call.
//
// Capture reads objects from outside: a copy of the fd taken with pidfd_getfd(2) (the same
// open file, so nothing is consumed: queues are peeked), /proc/PID/fdinfo, and the
// session's sock_diag. Revive creates each object once, by injected syscalls, in the first
// process that holds it (its holder, at an fd out of the image's way), adjusts it from here
// through a copy (queued bytes, timer settings, counters), and every process that holds it
// takes it from there with pidfd_getfd: processes share the open file, as they did.
#pragma once

#include <sys/stat.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/ScopedFd.h"
#include "kmod/TreeState.h"
#include "kmod/Types.h"
#include "kmod/objects/Context.h"

namespace deja::kmod {

/// A copy of fd `fd` of process `pid` in this process: the same open file (pidfd_getfd).
ScopedFd copy_fd(HostPid pid, int fd, const std::string& what);

/// One fd of a process being captured.
struct FdSite {
  HostPid pid;
  std::string process;  // "process 12 (comm, host pid 3456)"
  int fd = -1;
  std::string target;  // the fd's link text: "socket:[123]", "anon_inode:[eventfd]", ...
  std::string fdinfo;  // /proc/PID/fdinfo/FD as the driver read it (the tree is held)
  std::string what() const { return process + ": fd " + std::to_string(fd) + " (" + target + ")"; }
};

class UnixDiag;
namespace objects {
struct QueuedMessage;
}

/// The objects of one tree's capture: fed fd by fd by each ProcessCapture, then finished.
class ObjectCapture {
 public:
  /// `caches`, when given, are kept from one capture to the next.
  ObjectCapture(TreeState& tree, const std::map<HostPid, VPid>& vpids,
                CaptureCaches* caches = nullptr);
  ~ObjectCapture();
  ObjectCapture(const ObjectCapture&) = delete;
  ObjectCapture& operator=(const ObjectCapture&) = delete;

  /// Whether `target` names a kind of object this folder handles.
  static bool handles(const std::string& target);
  /// Records the object behind `site` (once per tree) and sets `f.kind` and `f.object_id`.
  /// Throws naming the process, the fd and the kind for what cannot be brought back.
  void capture(const FdSite& site, FdState& f);
  /// The controlling terminal of a session leader, from its /proc/PID/stat tty_nr: the tty's
  /// id, or 0 when it has none. Fails for a terminal the engine cannot bring back.
  uint64_t controlling_tty(const std::string& process, uint64_t tty_nr);
  /// Files, pipes and shared memory are reopened on revive; fds that shared one open file
  /// description (a dup, an fd inherited through fork) must share it again. Sets
  /// `f.object_id` to the description's id: that of an fd seen before when they are the same
  /// (kcmp, among fds of the same kind on the same `target`), else a new one.
  void identify_open_file(const FdSite& site, FdState& f);
  /// The tree's cache of mapped files' stat (CaptureContext::mapped_files).
  MappedFileStats& mapped_files() { return caches_->mapped_files; }
  /// The tree's mount types, by mount namespace (CaptureContext::mounts).
  MountTypesCache& mount_types() { return caches_->mount_types; }
  /// The tree's objects and its lists of pipes, files and shared memory are written from
  /// both capture threads (CaptureWorkerThread.h): each use holds this.
  [[nodiscard]] std::unique_lock<std::mutex> hold() { return std::unique_lock(mu_); }
  /// Once every process is captured: resolves socket peers (a peer the tree does not hold
  /// comes back closed) and checks every controlling terminal is held.
  void finish();

 private:
  /// Where `site`'s open file is, or would go, in `same` (indices of seen_ in kcmp order).
  struct Place {
    size_t at;
    bool found;
  };
  Place place_of(const FdSite& site, std::vector<size_t>& same);
  /// Records `site` as object `id` of `kind`, at `at` of `same` (its list in by_target_).
  void remember_at(const FdSite& site, FdKind kind, uint64_t id, std::vector<size_t>& same,
                   size_t at);
  /// The same, for an fd not looked up before.
  void remember(const FdSite& site, FdKind kind, uint64_t id);
  /// Sets `f`'s kind and object id; true when an fd seen earlier has the same open file,
  /// else the object is new (a fresh id) and the caller records it.
  bool known(const FdSite& site, FdState& f, FdKind kind);
  void capture_pidfd(const FdSite& site, uint64_t id);
  void capture_socket(const FdSite& site, FdState& f);
  void capture_netlink(const FdSite& site, int copy, uint64_t inode);
  /// Reads the queue of socket `fd` (a copy of `s`) into `s.queue` without consuming it;
  /// each message's credentials and descriptors wait in `peeked_` until finish().
  void peek_queue(int fd, UnixSocketState& s, const std::string& what);
  /// Names each descriptor peeked by the object it is (captured here when no process of the
  /// session holds it) and writes the sockets' `ancillary`.
  void resolve_in_flight();
  std::pair<FdKind, uint64_t> in_flight(const std::string& what, int fd);
  /// A regular file or directory held by no process: recorded by path; its object id.
  uint64_t in_flight_file(const std::string& what, int fd, const std::string& target);
  uint64_t in_flight_pipe(const std::string& what, int fd, const std::string& target);
  uint64_t in_flight_memfd(const std::string& what, int fd, const std::string& target);
  /// Records a file-like object in flight alone and remembers its fd here; its id.
  uint64_t in_flight_record(InFlightFileState f, FdKind kind, int fd, const std::string& target,
                            const std::string& what);
  void finish_sockets();
  void capture_tty(const FdSite& site, FdState& f, bool master, uint32_t index);
  VPid to_vpid(pid_t host) const;
  pid_t init_host_pid() const;

  std::mutex mu_;
  TreeState& tree_;
  const std::map<HostPid, VPid>& vpids_;
  std::unique_ptr<UnixDiag> diag_;
  struct Seen {
    HostPid pid;
    int fd;
    FdKind kind;
    uint64_t id;
    std::string target;
  };
  std::vector<Seen> seen_;
  // seen_ by kind and target, each list in the kernel's order of open files (kcmp): a
  // lookup takes log n kcmp calls where a scan of every fd with that target took n (10,800
  // a checkpoint, 10 ms, for 200 shells).
  std::map<std::pair<FdKind, std::string>, std::vector<size_t>> by_target_;
  uint64_t next_id_ = 1;
  CaptureCaches own_caches_;
  CaptureCaches* caches_;
  std::map<uint64_t, uint64_t> pending_of_;  // a client not accepted yet -> its listener
  std::map<uint64_t, std::string> socket_sites_;  // socket id -> the first fd met, for messages
  struct Peeked {  // one message: its sender's credentials and the descriptors peeked here
    uint32_t pid = 0, uid = 0, gid = 0;
    std::vector<ScopedFd> fds;
  };
  std::map<uint64_t, std::vector<Peeked>> peeked_;  // socket id -> its queue's messages
  std::vector<ScopedFd> resolved_;  // descriptors peeked and named, open until the capture ends
  std::map<uint32_t, std::string> tty_users_;     // pty index -> a holder, for messages
  std::map<uint32_t, FdSite> tty_masters_;        // pty index -> its master's first fd
};

class ProcessFill;

/// The objects of one tree's revive: created in their holders, then installed process by
/// process, then the holders' own copies closed.
class ObjectRevive {
 public:
  ObjectRevive(const TreeState& tree, const std::map<VPid, ProcessFill*>& fills, int min_fd);
  ~ObjectRevive();
  ObjectRevive(const ObjectRevive&) = delete;
  ObjectRevive& operator=(const ObjectRevive&) = delete;

  /// Creates every socket, event fd and pseudo-terminal in its holder (epolls are made by
  /// their first holder when it is filled, as they register that process's fds).
  void create_all();
  /// Gives process `p` its controlling terminal (before its fds: /dev/tty needs it).
  void set_controlling_tty(ProcessFill& p, const ProcessState& image);
  /// Puts fd `f` of `p`: every kind but epoll, then (`epolls`) the epoll fds.
  void install(ProcessFill& p, const FdState& f);
  /// For a file, pipe or shared-memory fd: takes the open file description an earlier fd
  /// of the tree already reopened, when they shared it; false when `f` is the first.
  bool take_open_file(ProcessFill& p, const FdState& f);
  /// `f` was just reopened in `p`: later fds that shared its description take it from there.
  void opened_file(ProcessFill& p, const FdState& f);
  /// Once every process has its fds: fills the unix sockets' queues (their messages may
  /// carry any fd of the tree), then sets their options and shutdown halves.
  void fill_queues(const PipeHolders& pipes, const ShmemHolders& shmems);
  /// Closes what the holders kept for others and what stood in for peers.
  void release_all();

 private:
  struct Held {
    VPid holder;
    int fd = -1;
  };
  const UnixSocketState& socket(uint64_t id) const;
  void create_sockets();
  void create_socket(const UnixSocketState& s);
  void fill_socket(const UnixSocketState& s);
  void send_message(int sender, const objects::QueuedMessage& m, const std::string& what);
  /// A copy here of the revived object an image fd of `kind` and `id` names.
  ScopedFd copy_of_object(FdKind kind, uint64_t id, const std::string& what);
  /// The file held by no process, opened here once: its fd.
  int open_in_flight_file(const InFlightFileState& f, const std::string& what);
  /// The process of the tree whose session PID is `pid` (SO_PEERCRED), else `otherwise`.
  ProcessFill& process_or(uint32_t pid, ProcessFill& otherwise);
  /// Makes a connected pair whose ends `a` and `b` report `a.peer_*` and `b.peer_*` as
  /// SO_PEERCRED: `b` is connected to a listener of `a`'s peer from `b`'s peer.
  void make_pair(const UnixSocketState& a, const UnixSocketState& b, ProcessFill& fallback);
  void set_socket_options(const UnixSocketState& s);
  /// TCP and UDP (InetSockets.cpp): made and filled, a connection still in repair mode;
  /// then, once every socket exists, out of repair with its options.
  void create_inet_socket(const InetSocketState& s);
  void finish_inet_socket(const InetSocketState& s);
  void create_event(const EventState& e);
  void create_inotify(const InotifyState& in);
  void create_pidfd(const PidfdState& pf);
  void create_ttys();
  void configure_tty(const TtyState& t, const Held& master);
  void create_epoll(ProcessFill& p, const EpollState& e);
  void take(ProcessFill& p, const Held& h, const FdState& f);
  /// The first process holding an fd of the object; for an object only in flight, the
  /// holder of the socket whose queue carries it.
  ProcessFill& holder_of(FdKind kind, uint64_t id, int depth = 0);
  ScopedFd copy_of(const Held& h, const std::string& what) const;

  const TreeState& tree_;
  const std::map<VPid, ProcessFill*>& fills_;
  int min_fd_;
  std::map<std::pair<FdKind, uint64_t>, Held> held_;
  std::map<uint64_t, Held> open_files_;  // reopened descriptions: where they are, to share
  std::map<uint64_t, Held> stand_ins_;  // the other end of a socket whose peer is gone
  std::vector<Held> spare_ptys_;          // masters opened only to reach an index
  std::map<uint64_t, ScopedFd> in_flight_files_;  // files only in flight, opened here, by id
  const PipeHolders* pipes_ = nullptr;  // the pipes processes hold, while queues are filled
  std::map<uint64_t, std::pair<ScopedFd, ScopedFd>> own_pipes_;  // pipes held by no process
  /// The path through /proc of an end (O_WRONLY: the write end) of pipe `pipe_id`: of its
  /// holder, or of a pipe made here when no process holds one.
  std::string pipe_end(uint64_t pipe_id, uint32_t flags, const std::string& what);
  const ShmemHolders* shmems_ = nullptr;     // the memfds processes hold, likewise
  std::map<uint64_t, ScopedFd> own_memfds_;  // memfds held by no process
  /// The path through /proc of memfd `shmem_id`: of its holder, or of one made here.
  std::string memfd_path(uint64_t shmem_id, const std::string& what);
};

}  // namespace deja::kmod
