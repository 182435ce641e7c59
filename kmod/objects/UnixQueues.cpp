// The messages queued on a unix socket, with what travels beside their bytes: the sender's
// credentials (SCM_CREDENTIALS) and descriptors in flight (SCM_RIGHTS).
//
// Capture peeks the queue from a copy of the socket, with SO_PASSCRED turned on for the while
// so each message comes with the credentials the kernel attached to it (a stream read stops
// where they change). It attaches them only when the sender or the receiver had SO_PASSCRED
// at the time; without, a receiver sees pid 0 and the overflow uid and gid (65534), which
// the image keeps and a revive gives explicitly like any others. Peeking
// descriptors installs copies of them in this process; they stay open until finish(), when
// every process's fds are known: a descriptor some process of the session also holds is named
// by that fd's object; one held nowhere else (sent, then closed by its sender) is captured
// from here as any socket, event fd, inotify or pidfd of the tree would be, and a regular
// file or directory by its path (an `inflight_file` record, opened again by the engine).
//
// Revive sends each message again from a copy of the peer's end, once every process has its
// fds, with the credentials given explicitly (a PID the branch's receiver sees as the original
// did) and copies of the descriptors' revived objects attached.
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "base/Error.h"
#include "kmod/ProcFs.h"
#include "kmod/ProcessFill.h"
#include "kmod/objects/Objects.h"
#include "kmod/objects/ObjectsInternal.h"

namespace deja::kmod {

namespace {

using objects::get_sockopt;
using objects::set_sockopt;

// Bigger messages than this are refused rather than cut.
constexpr size_t kMaxMessage = 1 << 20;
// The kernel's limit of descriptors in one message (SCM_MAX_FD).
constexpr size_t kMaxFds = 253;

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

uint64_t take_varint(std::string_view q, size_t& at, const char* what) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    if (at >= q.size() || shift > 63) throw Error(std::string("image: ") + what + " is truncated");
    auto b = static_cast<uint8_t>(q[at++]);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
}

bool file_kind(FdKind k) {
  return k == FdKind::kFile || k == FdKind::kPipe || k == FdKind::kShmem || k == FdKind::kMqueue;
}

}  // namespace

std::vector<objects::QueuedMessage> objects::unpack_queue(const UnixSocketState& s) {
  std::vector<QueuedMessage> out;
  std::string_view q = s.queue;
  for (size_t at = 0; at < q.size();) {
    uint64_t len = take_varint(q, at, "a socket queue");
    if (len > q.size() - at) throw Error("image: a socket queue is truncated");
    out.push_back({q.substr(at, len)});
    at += len;
  }
  std::string_view a = s.ancillary;
  size_t at = 0;
  for (size_t i = 0; at < a.size(); ++i) {
    if (i >= out.size())
      throw Error("image: socket " + std::to_string(s.id) +
                  " has more ancillary data than messages");
    QueuedMessage& m = out[i];
    m.pid = static_cast<uint32_t>(take_varint(a, at, "a socket's ancillary data"));
    m.uid = static_cast<uint32_t>(take_varint(a, at, "a socket's ancillary data"));
    m.gid = static_cast<uint32_t>(take_varint(a, at, "a socket's ancillary data"));
    m.has_creds = true;
    uint64_t n = take_varint(a, at, "a socket's ancillary data");
    if (n > kMaxFds) throw Error("image: a socket message carries more than 253 descriptors");
    for (uint64_t k = 0; k < n; ++k) {
      auto kind = static_cast<FdKind>(take_varint(a, at, "a socket's ancillary data"));
      m.fds.push_back({kind, take_varint(a, at, "a socket's ancillary data")});
    }
  }
  return out;
}

// ---- capture ---------------------------------------------------------------------------

void ObjectCapture::peek_queue(int fd, UnixSocketState& s, const std::string& what) {
  int old_off = get_sockopt(fd, SOL_SOCKET, SO_PEEK_OFF, "SO_PEEK_OFF", what);
  set_sockopt(fd, SOL_SOCKET, SO_PEEK_OFF, 0, "SO_PEEK_OFF", what);
  if (!s.passcred) set_sockopt(fd, SOL_SOCKET, SO_PASSCRED, 1, "SO_PASSCRED", what);
  std::vector<Peeked> peeked;
  // One buffer for the recorder's life: a fresh 1 MiB a socket was mapped and zeroed anew
  // under the freeze, 33 times a checkpoint on the desktop.
  static thread_local std::unique_ptr<char[]> buf(new char[kMaxMessage]);
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * kMaxFds)];
  std::string failure;
  for (;;) {
    iovec iov{buf.get(), kMaxMessage};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd, &m, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) {
      failure = std::string(": recvmsg(MSG_PEEK): ") + std::strerror(errno);
      break;
    }
    Peeked p;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        // The receiver sees the sender's PID in the session's namespace: none when the
        // sender is not a process of the session.
        p.pid = static_cast<uint32_t>(to_vpid(cred.pid).value);
        // Host ids: revive sends the queue again from the host, which gives them.
        p.uid = cred.uid;
        p.gid = cred.gid;
      } else if (c->cmsg_type == SCM_RIGHTS) {
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int got;
          std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
          p.fds.emplace_back(got);  // peeking installed a copy here
        }
      }
    }
    if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
      failure =
          " has a message larger than 1 MiB (or with more than 253 descriptors) in flight, "
          "not supported";
      break;
    }
    if (n == 0 && p.fds.empty()) {
      // A stream at its end; a zero-length datagram would be peeked forever.
      if (s.type != SOCK_STREAM) failure = " has an empty message in flight, not supported yet";
      break;
    }
    if (n == 0) {
      failure = " has descriptors in flight without a byte of data, not supported yet";
      break;
    }
    put_varint(s.queue, static_cast<uint64_t>(n));
    s.queue.append(buf.get(), static_cast<size_t>(n));
    peeked.push_back(std::move(p));
  }
  if (!s.passcred) set_sockopt(fd, SOL_SOCKET, SO_PASSCRED, 0, "SO_PASSCRED", what);
  set_sockopt(fd, SOL_SOCKET, SO_PEEK_OFF, old_off, "SO_PEEK_OFF", what);
  if (!failure.empty()) throw Error(what + failure);
  if (!peeked.empty()) peeked_[s.id] = std::move(peeked);
}

std::pair<FdKind, uint64_t> ObjectCapture::in_flight(const std::string& what, int fd) {
  HostPid self{::getpid()};
  std::string target = procfs::read_link(procfs::fd_path(self, fd));
  std::string named = what + " has a descriptor in flight (SCM_RIGHTS), " + target;
  struct stat sb;
  if (::fstat(fd, &sb) < 0) throw_errno("fstat", named);
  if (S_ISSOCK(sb.st_mode)) {
    for (const UnixSocketState& s : tree_.unix_sockets)
      if (s.id == sb.st_ino) return {FdKind::kUnixSocket, s.id};
    for (const InetSocketState& s : tree_.inet_sockets)
      if (s.id == sb.st_ino) return {FdKind::kInetSocket, s.id};
  }
  // The same open file as an fd of a process of the session: revived with it.
  for (const Seen& s : seen_) {
    long r = ::syscall(SYS_kcmp, self.value, s.pid.value, KCMP_FILE, fd, s.fd);
    if (r < 0 && errno != ESRCH && errno != EBADF) throw_errno("kcmp(KCMP_FILE)", named);
    if (r != 0) continue;
    if (s.kind == FdKind::kPtySlave)
      throw Error(named + ", is a pty slave, not supported yet in flight");
    return {s.kind, s.id};
  }
  // Open nowhere else: captured from here, revived in the receiver's holder.
  if (target.starts_with("/") && !target.ends_with(" (deleted)") &&
      (S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode)) && !is_mqueue(procfs::fd_path(self, fd)))
    return {FdKind::kFile, in_flight_file(named, fd, target)};
  if (target.starts_with("pipe:[")) return {FdKind::kPipe, in_flight_pipe(named, fd, target)};
  if (target.starts_with("/memfd:") && target.ends_with(" (deleted)") && S_ISREG(sb.st_mode))
    return {FdKind::kShmem, in_flight_memfd(named, fd, target)};
  bool here = handles(target) && target != "anon_inode:[eventpoll]" &&
              !target.starts_with("/dev/pts/") && target != "/dev/ptmx";
  if (!here)
    throw Error(
        named +
        ", which no process of the session holds open; in flight alone only "
        "regular files, directories, pipes, memfds, sockets, eventfd, timerfd, signalfd, inotify "
        "and pidfds are supported yet");
  FdSite site{self, "a descriptor in flight on " + what, fd, target, procfs::fdinfo(self, fd).text};
  FdState f;
  capture(site, f);
  return {f.kind, f.object_id};
}

uint64_t ObjectCapture::in_flight_file(const std::string& what, int fd, const std::string& target) {
  // Paths are kept relative to the session's root, as its processes' files are.
  std::string root = procfs::read_link(procfs::path(HostPid{init_host_pid()}, "root"));
  std::string path = target;
  if (root != "/") {
    if (!target.starts_with(root + "/"))
      throw Error(what + ", which lies outside the session's root " + root);
    path = target.substr(root.size());
  }
  InFlightFileState f;
  f.path = path;
  return in_flight_record(f, FdKind::kFile, fd, target, what);
}

uint64_t ObjectCapture::in_flight_record(InFlightFileState f, FdKind kind, int fd,
                                         const std::string& target, const std::string& what) {
  HostPid self{::getpid()};
  procfs::FdInfo info = procfs::fdinfo(self, fd);
  f.id = next_id_++;
  f.flags = info.flags & ~static_cast<uint32_t>(O_CLOEXEC);
  f.pos = info.pos;
  remember(FdSite{self, what, fd, target, std::move(info.text)}, kind, f.id);
  tree_.in_flight_files.push_back(f);
  return f.id;
}

uint64_t ObjectCapture::in_flight_memfd(const std::string& what, int fd,
                                        const std::string& target) {
  struct stat sb;
  if (::fstat(fd, &sb) < 0) throw_errno("fstat", what);
  if (std::none_of(tree_.shmems.begin(), tree_.shmems.end(),
                   [&](const ShmemState& s) { return s.id == sb.st_ino; }))
    tree_.shmems.push_back(
        memfd_state(procfs::fd_path(HostPid{::getpid()}, fd), target, sb.st_ino));
  InFlightFileState f;
  f.shmem_id = sb.st_ino;
  return in_flight_record(f, FdKind::kShmem, fd, target, what);
}

uint64_t ObjectCapture::in_flight_pipe(const std::string& what, int fd, const std::string& target) {
  uint64_t pipe_id = std::strtoull(target.c_str() + 6, nullptr, 10);  // "pipe:[ID]"
  if (std::none_of(tree_.pipes.begin(), tree_.pipes.end(),
                   [&](const PipeState& p) { return p.id == pipe_id; }))
    tree_.pipes.push_back(pipe_state(HostPid{::getpid()}, fd, pipe_id, what));
  InFlightFileState f;
  f.pipe_id = pipe_id;
  return in_flight_record(f, FdKind::kPipe, fd, target, what);
}

void ObjectCapture::resolve_in_flight() {
  // Capturing a socket found in flight may peek more: take queues until none is left.
  while (!peeked_.empty()) {
    auto node = peeked_.extract(peeked_.begin());
    uint64_t id = node.key();
    const std::string what = socket_sites_[id];
    std::string ancillary;
    for (Peeked& p : node.mapped()) {
      put_varint(ancillary, p.pid);
      put_varint(ancillary, p.uid);
      put_varint(ancillary, p.gid);
      put_varint(ancillary, p.fds.size());
      for (ScopedFd& fd : p.fds) {
        auto [kind, object] = in_flight(what, fd.get());
        put_varint(ancillary, static_cast<uint64_t>(kind));
        put_varint(ancillary, object);
        // Kept open: an object captured from here is known by this fd (kcmp) until the end.
        resolved_.push_back(std::move(fd));
      }
    }
    for (UnixSocketState& s : tree_.unix_sockets)
      if (s.id == id) s.ancillary = std::move(ancillary);
  }
}

// ---- revive ----------------------------------------------------------------------------

int ObjectRevive::open_in_flight_file(const InFlightFileState& f, const std::string& what) {
  auto opened = in_flight_files_.find(f.id);
  if (opened != in_flight_files_.end()) return opened->second.get();
  // Opened from here through the root of a process of the branch (the same file of the
  // branch's own files), or from the pipe: one open file description for every message
  // carrying it.
  std::string path = f.pipe_id ? pipe_end(f.pipe_id, f.flags, what)
                     : f.shmem_id
                         ? memfd_path(f.shmem_id, what)
                         : procfs::path(holder_of(FdKind::kFile, f.id).host(), "root") + f.path;
  uint32_t flags =
      (f.flags & ~static_cast<uint32_t>(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY)) | O_CLOEXEC;
  ScopedFd fd(::open(path.c_str(), static_cast<int>(flags)));
  if (!fd) throw_errno("open (a file in flight on " + what + ")", path);
  if (::lseek(fd.get(), static_cast<off_t>(f.pos), SEEK_SET) < 0 && errno != ESPIPE)
    throw_errno("lseek (a file in flight on " + what + ")", path);
  return in_flight_files_.emplace(f.id, std::move(fd)).first->second.get();
}

ScopedFd ObjectRevive::copy_of_object(FdKind kind, uint64_t id, const std::string& what) {
  for (const InFlightFileState& f : tree_.in_flight_files)
    if (file_kind(kind) && f.id == id) {
      ScopedFd copy(::fcntl(open_in_flight_file(f, what), F_DUPFD_CLOEXEC, 0));
      if (!copy) throw_errno("fcntl(F_DUPFD_CLOEXEC)", "a file in flight on " + what);
      return copy;
    }
  if (file_kind(kind)) {
    auto h = open_files_.find(id);
    if (h == open_files_.end())
      throw Error("revive: " + what + " carries a file no process reopened (object " +
                  std::to_string(id) + ")");
    return copy_of(h->second, what);
  }
  auto h = held_.find({kind, id});
  if (h == held_.end())
    throw Error("revive: " + what + " carries an object that was not made (kind " +
                std::to_string(static_cast<uint32_t>(kind)) + ", id " + std::to_string(id) + ")");
  return copy_of(h->second, what);
}

void ObjectRevive::send_message(int sender, const objects::QueuedMessage& m,
                                const std::string& what) {
  std::vector<ScopedFd> fds;
  for (const auto& [kind, id] : m.fds) fds.push_back(copy_of_object(kind, id, what));
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * kMaxFds)];
  for (size_t done = 0; done < m.bytes.size();) {
    iovec iov{const_cast<char*>(m.bytes.data() + done), m.bytes.size() - done};
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    size_t len = 0;
    if (m.has_creds) {
      // The PID is read in this process's namespace and shown to the receiver in its own:
      // the sender's host PID in the branch, or ours (which a session cannot see).
      auto sender_fill = fills_.find(VPid{static_cast<pid_t>(m.pid)});
      ucred cred{
          m.pid && sender_fill != fills_.end() ? sender_fill->second->host().value : ::getpid(),
          m.uid, m.gid};
      auto* c = reinterpret_cast<cmsghdr*>(control);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_CREDENTIALS;
      c->cmsg_len = CMSG_LEN(sizeof cred);
      std::memcpy(CMSG_DATA(c), &cred, sizeof cred);
      len += CMSG_SPACE(sizeof cred);
    }
    if (done == 0 && !fds.empty()) {  // the descriptors go with the first part only
      auto* c = reinterpret_cast<cmsghdr*>(control + len);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      for (size_t i = 0; i < fds.size(); ++i) {
        int v = fds[i].get();
        std::memcpy(CMSG_DATA(c) + i * sizeof(int), &v, sizeof v);
      }
      len += CMSG_SPACE(sizeof(int) * fds.size());
    }
    h.msg_control = len ? control : nullptr;
    h.msg_controllen = len;
    ssize_t n = ::sendmsg(sender, &h, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) throw_errno("sendmsg (refilling the queue of)", what);
    done += static_cast<size_t>(n);
  }
}

void ObjectRevive::fill_socket(const UnixSocketState& s) {
  if (s.queue.empty()) return;
  std::string what = "revived socket " + std::to_string(s.id);
  const Held& from = s.peer_gone ? stand_ins_.at(s.id) : held_.at({FdKind::kUnixSocket, s.peer});
  ScopedFd sender = copy_of(from, what + "'s peer");
  // Room for the whole queue on the sending side, whatever the original's buffer was (the
  // sender's own size is set again afterwards).
  int room = static_cast<int>(std::min<size_t>(s.queue.size() * 2 + 65536, 1 << 30));
  set_sockopt(sender.get(), SOL_SOCKET, SO_SNDBUFFORCE, room, "SO_SNDBUFFORCE", what);
  for (const objects::QueuedMessage& m : objects::unpack_queue(s))
    send_message(sender.get(), m, what);
}

std::string ObjectRevive::pipe_end(uint64_t pipe_id, uint32_t flags, const std::string& what) {
  bool write_end = (flags & O_ACCMODE) == O_WRONLY;
  auto held = pipes_->find(pipe_id);
  if (held != pipes_->end()) {
    const PipeHolder& h = held->second;
    return procfs::fd_path(fills_.at(h.holder)->host(), write_end ? h.write_fd : h.read_fd);
  }
  auto own = own_pipes_.find(pipe_id);
  if (own == own_pipes_.end()) {
    auto state = std::find_if(tree_.pipes.begin(), tree_.pipes.end(),
                              [&](const PipeState& p) { return p.id == pipe_id; });
    if (state == tree_.pipes.end())
      throw Error("revive: image lacks the pipe record for pipe " + std::to_string(pipe_id));
    int two[2];
    if (::pipe2(two, O_CLOEXEC | O_NONBLOCK) < 0)
      throw_errno("pipe2", "a pipe in flight on " + what);
    own = own_pipes_.emplace(pipe_id, std::make_pair(ScopedFd(two[0]), ScopedFd(two[1]))).first;
    fill_pipe(two[1], *state, "a pipe in flight on " + what);
  }
  return procfs::fd_path(HostPid{::getpid()},
                         write_end ? own->second.second.get() : own->second.first.get());
}

std::string ObjectRevive::memfd_path(uint64_t shmem_id, const std::string& what) {
  auto held = shmems_->find(shmem_id);
  if (held != shmems_->end())
    return procfs::fd_path(fills_.at(held->second.holder)->host(), held->second.fd);
  auto own = own_memfds_.find(shmem_id);
  if (own == own_memfds_.end()) {
    auto state = std::find_if(tree_.shmems.begin(), tree_.shmems.end(),
                              [&](const ShmemState& s) { return s.id == shmem_id; });
    if (state == tree_.shmems.end())
      throw Error("revive: image lacks the record of shared-memory object " +
                  std::to_string(shmem_id));
    std::string named = "a memfd in flight on " + what;
    ScopedFd fd(::memfd_create(state->name.c_str(), MFD_CLOEXEC));
    if (!fd) throw_errno("memfd_create", named);
    if (::ftruncate(fd.get(), static_cast<off_t>(state->size)) < 0) throw_errno("ftruncate", named);
    fill_shmem(fd.get(), *state, named);
    own = own_memfds_.emplace(shmem_id, std::move(fd)).first;
  }
  return procfs::fd_path(HostPid{::getpid()}, own->second.get());
}

void ObjectRevive::fill_queues(const PipeHolders& pipes, const ShmemHolders& shmems) {
  pipes_ = &pipes;
  shmems_ = &shmems;
  // Every queue before any shutdown: a shut-down sender could not refill its peer.
  for (const UnixSocketState& s : tree_.unix_sockets) fill_socket(s);
  for (const UnixSocketState& s : tree_.unix_sockets) set_socket_options(s);
}

}  // namespace deja::kmod
