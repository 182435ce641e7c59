// Unix sockets: stream, seqpacket and datagram; pairs, listeners (with connections not
// accepted yet), bound names (paths and abstract), queued bytes and messages both ways,
// shutdown state and the options programs set.
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <linux/netlink.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <set>

#include "base/Error.h"
#include "kmod/ProcFs.h"
#include "kmod/ProcessFill.h"
#include "kmod/objects/ObjectsInternal.h"
#include "kmod/objects/UnixDiag.h"

namespace deja::kmod {

namespace {

using objects::get_sockopt;
using objects::set_sockopt;

// Bigger messages than this are refused rather than cut.
constexpr size_t kMaxMessage = 1 << 20;

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

// The messages of a queue as capture packed them: per message a varint length and its bytes.
std::vector<std::string_view> unpack_queue(std::string_view q) {
  std::vector<std::string_view> out;
  size_t at = 0;
  while (at < q.size()) {
    uint64_t len = 0;
    for (int shift = 0; at < q.size(); shift += 7) {
      auto b = static_cast<uint8_t>(q[at++]);
      len |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    if (len > q.size() - at) throw Error("image: a socket queue is truncated");
    out.push_back(q.substr(at, len));
    at += len;
  }
  return out;
}

// Reads the receive queue without consuming it: MSG_PEEK from a peek offset that moves on
// with every read, then the socket's own offset back.
std::string peek_queue(int fd, int type, const std::string& what) {
  int old_off = get_sockopt(fd, SOL_SOCKET, SO_PEEK_OFF, "SO_PEEK_OFF", what);
  set_sockopt(fd, SOL_SOCKET, SO_PEEK_OFF, 0, "SO_PEEK_OFF", what);
  std::string out, buf(kMaxMessage, '\0');
  char control[CMSG_SPACE(sizeof(int) * 253)];
  std::string failure;
  for (;;) {
    iovec iov{buf.data(), buf.size()};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd, &m, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) {
      failure = std::string("recvmsg(MSG_PEEK): ") + std::strerror(errno);
      break;
    }
    bool rights = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      rights = true;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int got;
        std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
        ::close(got);  // peeking installed them here
      }
    }
    if (rights) {
      failure = "has file descriptors in flight (SCM_RIGHTS), not supported yet";
      break;
    }
    if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
      failure = "has a message larger than 1 MiB in flight, not supported";
      break;
    }
    if (n == 0) {
      // A stream at its end; a zero-length datagram would be peeked forever.
      if (type != SOCK_STREAM) failure = "has an empty message in flight, not supported yet";
      break;
    }
    put_varint(out, static_cast<uint64_t>(n));
    out.append(buf.data(), static_cast<size_t>(n));
  }
  set_sockopt(fd, SOL_SOCKET, SO_PEEK_OFF, old_off, "SO_PEEK_OFF", what);
  if (!failure.empty()) throw Error(what + " " + failure);
  return out;
}

uint32_t state_of(const UnixDiag::Entry& e) {
  if (e.state == TCP_LISTEN) return kSocketListening;
  // A datagram socket is connected when it has a peer; its state says more of its peer.
  if (e.type == SOCK_DGRAM) return e.peer ? kSocketConnected : kSocketUnconnected;
  return e.state == TCP_ESTABLISHED ? kSocketConnected : kSocketUnconnected;
}

// Unix, netlink, IPv4 and IPv6 sockets are handled before this is asked.
std::string family_name(int family) {
  return family == AF_PACKET ? "a packet" : "an address family " + std::to_string(family);
}

sockaddr_un address(const std::string& name, socklen_t* len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  size_t n = std::min(name.size(), sizeof a.sun_path);
  std::memcpy(a.sun_path, name.data(), n);
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
  return a;
}

}  // namespace

// ---- capture ---------------------------------------------------------------------------

void ObjectCapture::capture_socket(const FdSite& site, FdState& f) {
  uint64_t inode = std::strtoull(site.target.c_str() + 8, nullptr, 10);
  f.kind = FdKind::kUnixSocket;
  f.object_id = inode;
  for (const UnixSocketState& s : tree_.unix_sockets)
    if (s.id == inode) return;
  for (const InetSocketState& s : tree_.inet_sockets)
    if (s.id == inode) {
      f.kind = FdKind::kInetSocket;
      return;
    }
  ScopedFd copy = copy_fd(site.pid, site.fd, site.what());
  int family = get_sockopt(copy.get(), SOL_SOCKET, SO_DOMAIN, "SO_DOMAIN", site.what());
  if (family == AF_NETLINK) return capture_netlink(site, copy.get(), inode);
  if (family == AF_INET || family == AF_INET6) {
    f.kind = FdKind::kInetSocket;
    tree_.inet_sockets.push_back(objects::capture_inet_socket(site, copy.get(), inode, family));
    return;
  }
  if (family != AF_UNIX)
    throw Error(site.what() + " is " + family_name(family) + " socket, not supported yet");
  if (!diag_) diag_ = std::make_unique<UnixDiag>(init_host_pid());
  UnixSocketState s;
  s.id = inode;
  s.type =
      static_cast<uint32_t>(get_sockopt(copy.get(), SOL_SOCKET, SO_TYPE, "SO_TYPE", site.what()));
  // sock_diag lists every unix socket of the session's namespace (and inode numbers are
  // unique across namespaces): one it does not list is of another namespace, or an error.
  if (const UnixDiag::Entry* e = diag_->find(inode)) {
    s.state = state_of(*e);
    s.name = e->name;
    s.peer = e->peer;
    s.shutdown = e->shutdown;
    if (s.state == kSocketListening) {
      s.backlog = e->wqueue;
      for (uint64_t client : e->pending) pending_of_[client] = s.id;
    }
  } else {
    if (diag_->same_namespace(copy.get()))
      throw Error(site.what() + ": sock_diag does not list this socket");
    // Accepted from a client outside the session (a host program connected to the
    // session's X server): the kernel makes the server's end in the client's namespace.
    // Its peer is outside whatever it is, so the fd tells enough.
    if (get_sockopt(copy.get(), SOL_SOCKET, SO_ACCEPTCONN, "SO_ACCEPTCONN", site.what()))
      throw Error(site.what() + " is a listening socket of another network namespace, not supported");
    sockaddr_un peer{};
    socklen_t len = sizeof peer;
    s.state = ::getpeername(copy.get(), reinterpret_cast<sockaddr*>(&peer), &len) == 0
                  ? kSocketConnected
                  : kSocketUnconnected;
  }
  if (!s.name.empty() && s.name[0] != '\0' && s.name[0] != '/')
    throw Error(site.what() + " is bound to the relative path " + s.name + ", not supported yet");
  s.passcred = static_cast<uint32_t>(
      get_sockopt(copy.get(), SOL_SOCKET, SO_PASSCRED, "SO_PASSCRED", site.what()));
  s.sndbuf = static_cast<uint64_t>(
      get_sockopt(copy.get(), SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF", site.what()));
  s.rcvbuf = static_cast<uint64_t>(
      get_sockopt(copy.get(), SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF", site.what()));
  if (s.state != kSocketListening) s.queue = peek_queue(copy.get(), static_cast<int>(s.type), site.what());
  socket_sites_[s.id] = site.what();
  tree_.unix_sockets.push_back(std::move(s));
}

void ObjectCapture::capture_netlink(const FdSite& site, int copy, uint64_t inode) {
  char probe;
  ssize_t queued = ::recv(copy, &probe, 1, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
  if (queued < 0 && errno != EAGAIN) throw_errno("recv(MSG_PEEK)", site.what());
  if (queued >= 0)
    throw Error(site.what() + " is a netlink socket with messages queued, not supported yet");
  UnixSocketState s;
  s.id = inode;
  s.family = AF_NETLINK;
  s.type = static_cast<uint32_t>(get_sockopt(copy, SOL_SOCKET, SO_TYPE, "SO_TYPE", site.what()));
  s.protocol =
      static_cast<uint32_t>(get_sockopt(copy, SOL_SOCKET, SO_PROTOCOL, "SO_PROTOCOL", site.what()));
  sockaddr_nl nl{};
  socklen_t len = sizeof nl;
  if (::getsockname(copy, reinterpret_cast<sockaddr*>(&nl), &len) < 0)
    throw_errno("getsockname", site.what());
  s.groups = nl.nl_groups;
  s.passcred =
      static_cast<uint32_t>(get_sockopt(copy, SOL_SOCKET, SO_PASSCRED, "SO_PASSCRED", site.what()));
  s.sndbuf =
      static_cast<uint64_t>(get_sockopt(copy, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF", site.what()));
  s.rcvbuf =
      static_cast<uint64_t>(get_sockopt(copy, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF", site.what()));
  socket_sites_[s.id] = site.what();
  tree_.unix_sockets.push_back(std::move(s));
}

void ObjectCapture::finish_sockets() {
  std::map<uint64_t, const UnixSocketState*> by_id;
  for (const UnixSocketState& s : tree_.unix_sockets) by_id[s.id] = &s;
  for (UnixSocketState& s : tree_.unix_sockets) {
    const std::string& what = socket_sites_[s.id];
    // A listener's diag lists the clients of the connections it has not accepted; such a
    // client's peer is a socket no fd reaches yet (diag shows it as inode 0), so what the
    // client sent waits there.
    auto listener = pending_of_.find(s.id);
    if (listener != pending_of_.end()) {
      const UnixDiag::Entry* self = diag_->find(s.id);
      if (self && self->wqueue)
        throw Error(what + " sent " + std::to_string(self->wqueue) +
                    " bytes on a connection not accepted yet, not supported yet");
      s.peer_listener = listener->second;
      s.peer = 0;
      continue;
    }
    if (s.peer && !by_id.count(s.peer)) s.peer = 0;
    if (!s.peer && s.state == kSocketConnected) s.peer_gone = true;
    bool pair = s.peer && by_id.at(s.peer)->peer == s.id;
    if (!s.queue.empty() && !pair && !s.peer_gone)
      throw Error(what + " has messages queued from sockets it is not paired with, not supported yet");
    if (s.peer && !pair && by_id.at(s.peer)->name.empty())
      throw Error(what + " is connected to an unnamed socket it is not paired with, not supported");
  }
}

// ---- revive ----------------------------------------------------------------------------

const UnixSocketState& ObjectRevive::socket(uint64_t id) const {
  for (const UnixSocketState& s : tree_.unix_sockets)
    if (s.id == id) return s;
  throw Error("revive: image lacks the record of socket " + std::to_string(id));
}

void ObjectRevive::create_sockets() {
  // Named sockets first: connections and datagram peers find them by name.
  for (const UnixSocketState& s : tree_.unix_sockets)
    if (s.state != kSocketConnected) create_socket(s);
  for (const UnixSocketState& s : tree_.unix_sockets)
    if (s.state == kSocketConnected) create_socket(s);
  // Every queue before any shutdown: a shut-down sender could not refill its peer.
  for (const UnixSocketState& s : tree_.unix_sockets) fill_socket(s);
  for (const UnixSocketState& s : tree_.unix_sockets) set_socket_options(s);
  // Listeners and bound sockets before connections, which may share their ports.
  for (const InetSocketState& s : tree_.inet_sockets)
    if (s.state != kSocketConnected) create_inet_socket(s);
  for (const InetSocketState& s : tree_.inet_sockets)
    if (s.state == kSocketConnected) create_inet_socket(s);
  for (const InetSocketState& s : tree_.inet_sockets) finish_inet_socket(s);
}

void ObjectRevive::create_socket(const UnixSocketState& s) {
  auto key = std::make_pair(FdKind::kUnixSocket, s.id);
  if (held_.count(key)) return;  // made as the other end of a pair
  ProcessFill& h = holder_of(FdKind::kUnixSocket, s.id);
  RemoteSyscalls& rs = h.syscalls();
  uint64_t type = s.type | SOCK_CLOEXEC | SOCK_NONBLOCK;  // flags are the fd's, set on install
  bool pair = s.peer && socket(s.peer).peer == s.id;
  if (pair || s.peer_gone) {
    RemotePtr fds = h.put_struct(std::string(8, '\0'));
    rs.check("socketpair", SYS_socketpair, AF_UNIX, type, 0, fds.addr);
    int two[2];
    std::memcpy(two, h.read_remote(fds, sizeof two).data(), sizeof two);
    held_[key] = {h.vpid(), objects::park(h, two[0], min_fd_, "socketpair")};
    // A peer that is gone is stood in for until the queue is filled, then closed: the
    // socket reads as closed by its peer, as it would have once the peer went.
    Held other{h.vpid(), objects::park(h, two[1], min_fd_, "socketpair")};
    if (pair) held_[{FdKind::kUnixSocket, s.peer}] = other;
    else stand_ins_[s.id] = other;
    return;
  }
  if (s.family == AF_NETLINK) {
    Held me{h.vpid(), objects::park(h, rs.call(SYS_socket, AF_NETLINK, type, s.protocol), min_fd_,
                                    "socket(AF_NETLINK)")};
    held_[key] = me;
    if (s.groups) {
      sockaddr_nl nl{};
      nl.nl_family = AF_NETLINK;
      nl.nl_groups = s.groups;
      RemotePtr a = h.put_struct(std::string_view(reinterpret_cast<const char*>(&nl), sizeof nl));
      rs.check("bind(AF_NETLINK)", SYS_bind, static_cast<uint64_t>(me.fd), a.addr, sizeof nl);
    }
    return;
  }
  Held me{h.vpid(), objects::park(h, rs.call(SYS_socket, AF_UNIX, type, 0), min_fd_, "socket")};
  held_[key] = me;
  auto remote_address = [&](const std::string& name, socklen_t* len) {
    sockaddr_un a = address(name, len);
    return h.put_struct(std::string_view(reinterpret_cast<const char*>(&a), *len));
  };
  if (!s.name.empty() && s.state != kSocketConnected) {
    if (s.name[0] == '/') {
      // The branch's files hold the original's socket inode at that path.
      std::string path = procfs::path(h.host(), "root") + s.name.c_str();
      struct stat sb;
      if (::lstat(path.c_str(), &sb) == 0 && S_ISSOCK(sb.st_mode) && ::unlink(path.c_str()) < 0)
        throw_errno("unlink", path);
    }
    socklen_t len;
    RemotePtr a = remote_address(s.name, &len);
    rs.check("bind", SYS_bind, static_cast<uint64_t>(me.fd), a.addr, len);
  }
  if (s.state == kSocketListening)
    rs.check("listen", SYS_listen, static_cast<uint64_t>(me.fd), s.backlog);
  uint64_t to = s.peer_listener ? s.peer_listener : s.peer;
  if (to) {
    create_socket(socket(to));
    socklen_t len;
    RemotePtr a = remote_address(socket(to).name, &len);
    rs.check("connect", SYS_connect, static_cast<uint64_t>(me.fd), a.addr, len);
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
  for (std::string_view m : unpack_queue(s.queue))
    for (size_t done = 0; done < m.size();) {
      ssize_t n = ::send(sender.get(), m.data() + done, m.size() - done, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) throw_errno("send (refilling the queue of)", what);
      done += static_cast<size_t>(n);
    }
}

void ObjectRevive::set_socket_options(const UnixSocketState& s) {
  std::string what = "revived socket " + std::to_string(s.id);
  ScopedFd me = copy_of(held_.at({FdKind::kUnixSocket, s.id}), what);
  if (s.passcred) set_sockopt(me.get(), SOL_SOCKET, SO_PASSCRED, 1, "SO_PASSCRED", what);
  // getsockopt reports the doubled value the kernel keeps; setsockopt doubles what it gets.
  if (s.sndbuf)
    set_sockopt(me.get(), SOL_SOCKET, SO_SNDBUFFORCE, static_cast<int>(s.sndbuf / 2),
                "SO_SNDBUFFORCE", what);
  if (s.rcvbuf)
    set_sockopt(me.get(), SOL_SOCKET, SO_RCVBUFFORCE, static_cast<int>(s.rcvbuf / 2),
                "SO_RCVBUFFORCE", what);
  int how = (s.shutdown & 1 ? 1 : 0) | (s.shutdown & 2 ? 2 : 0);  // RCV 1 / SEND 2
  if (how && ::shutdown(me.get(), how == 3 ? SHUT_RDWR : how == 1 ? SHUT_RD : SHUT_WR) < 0)
    throw_errno("shutdown", what);
}

}  // namespace deja::kmod
