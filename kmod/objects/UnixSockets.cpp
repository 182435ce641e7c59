// Unix sockets: stream, seqpacket and datagram; pairs, listeners (with connections not
// accepted yet), bound names (paths and abstract), queued bytes and messages both ways,
// shutdown state and the options programs set.
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "base/Error.h"
#include "kmod/ProcFs.h"
#include "kmod/ProcessFill.h"
#include "kmod/objects/ObjectsInternal.h"
#include "kmod/objects/UnixDiag.h"

namespace deja::kmod {

namespace {

using objects::get_sockopt;
using objects::set_sockopt;

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
  const UnixDiag::Entry* e = diag_->find(inode);
  if (e) {
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
  ucred peer{};
  socklen_t len = sizeof peer;
  if (::getsockopt(copy.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0)
    throw_errno("getsockopt(SO_PEERCRED)", site.what());
  s.peer_pid = static_cast<uint32_t>(to_vpid(peer.pid).value);
  if (s.peer_pid) {
    // As the peer (a process of the session) sees them: revive makes the socket with them
    // from inside the session.
    s.peer_uid = procfs::id_inside(HostPid{peer.pid}, "uid_map", peer.uid);
    s.peer_gid = procfs::id_inside(HostPid{peer.pid}, "gid_map", peer.gid);
  }
  socket_sites_[s.id] = site.what();
  // A stream socket sock_diag found nothing queued on has nothing to peek (X clients'
  // sockets, mostly). Datagrams are peeked always: sock_diag gives the length of the first
  // message only, and an empty one (with descriptors, say) reads as nothing queued.
  bool empty_stream = e && s.type == SOCK_STREAM && e->rqueue == 0;
  if (s.state != kSocketListening && !empty_stream) peek_queue(copy.get(), s, site.what());
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
  // Queues are filled and options set once every process has its fds (fill_queues): a
  // message may carry any of them.

  // Listeners and bound sockets before connections, which may share their ports.
  for (const InetSocketState& s : tree_.inet_sockets)
    if (s.state != kSocketConnected) create_inet_socket(s);
  for (const InetSocketState& s : tree_.inet_sockets)
    if (s.state == kSocketConnected) create_inet_socket(s);
  for (const InetSocketState& s : tree_.inet_sockets) finish_inet_socket(s);
}

ProcessFill& ObjectRevive::process_or(uint32_t pid, ProcessFill& otherwise) {
  auto p = pid ? fills_.find(VPid{static_cast<pid_t>(pid)}) : fills_.end();
  return p == fills_.end() ? otherwise : *p->second;
}

namespace {

// The kernel gives a socket made by socketpair, a listener and both ends of a connection the
// credentials of the process making them (SO_PEERCRED): its effective uid and gid, which a
// skeleton process (root until its own are restored) takes on for the while.
class EffectiveCreds {
 public:
  EffectiveCreds(ProcessFill& p, uint32_t uid, uint32_t gid) : p_(p), on_(uid || gid) {
    if (!on_) return;
    p_.syscalls().check("setresgid", SYS_setresgid, kKeep, gid, kKeep);
    p_.syscalls().check("setresuid", SYS_setresuid, kKeep, uid, kKeep);
  }
  ~EffectiveCreds() {
    if (!on_) return;
    p_.syscalls().call(SYS_setresuid, kKeep, 0, kKeep);
    p_.syscalls().call(SYS_setresgid, kKeep, 0, kKeep);
  }
  EffectiveCreds(const EffectiveCreds&) = delete;
  EffectiveCreds& operator=(const EffectiveCreds&) = delete;

 private:
  static constexpr uint64_t kKeep = static_cast<uint32_t>(-1);
  ProcessFill& p_;
  bool on_;
};

RemotePtr remote_address(ProcessFill& p, const std::string& name, socklen_t* len) {
  sockaddr_un a = address(name, len);
  return p.put_struct(std::string_view(reinterpret_cast<const char*>(&a), *len));
}

}  // namespace

void ObjectRevive::make_pair(const UnixSocketState& a, const UnixSocketState& b,
                             ProcessFill& fallback) {
  uint64_t type = a.type | SOCK_CLOEXEC | SOCK_NONBLOCK;  // flags are the fd's, set on install
  ProcessFill& pa = process_or(a.peer_pid, fallback);
  ProcessFill& pb = process_or(b.peer_pid, fallback);
  bool same = &pa == &pb && a.peer_uid == b.peer_uid && a.peer_gid == b.peer_gid;
  if (same || a.type == SOCK_DGRAM) {  // a datagram connect leaves SO_PEERCRED alone
    RemoteSyscalls& rs = pa.syscalls();
    RemotePtr fds = pa.put_struct(std::string(8, '\0'));
    {
      EffectiveCreds as(pa, a.peer_uid, a.peer_gid);
      rs.check("socketpair", SYS_socketpair, AF_UNIX, type, 0, fds.addr);
    }
    int two[2];
    std::memcpy(two, pa.read_remote(fds, sizeof two).data(), sizeof two);
    held_[{FdKind::kUnixSocket, a.id}] = {pa.vpid(),
                                          objects::park(pa, two[0], min_fd_, "socketpair")};
    held_[{FdKind::kUnixSocket, b.id}] = {pa.vpid(),
                                          objects::park(pa, two[1], min_fd_, "socketpair")};
    return;
  }
  // Made by connect and accept: the connecting end reports the listener's process, the
  // accepted end the connecting one. A listener of `a`'s peer takes a connection from `b`'s.
  std::string name = std::string(1, '\0') + "deja-pair-" + std::to_string(a.id);
  socklen_t len;
  RemoteSyscalls& ra = pa.syscalls();
  int listener = objects::park(pa, ra.call(SYS_socket, AF_UNIX, type, 0), min_fd_, "socket");
  RemotePtr at = remote_address(pa, name, &len);
  ra.check("bind", SYS_bind, static_cast<uint64_t>(listener), at.addr, len);
  {
    EffectiveCreds as(pa, a.peer_uid, a.peer_gid);
    ra.check("listen", SYS_listen, static_cast<uint64_t>(listener), 1);
  }
  RemoteSyscalls& rb = pb.syscalls();
  int client = objects::park(pb, rb.call(SYS_socket, AF_UNIX, type, 0), min_fd_, "socket");
  {
    EffectiveCreds as(pb, b.peer_uid, b.peer_gid);
    at = remote_address(pb, name, &len);
    rb.check("connect", SYS_connect, static_cast<uint64_t>(client), at.addr, len);
  }
  long accepted =
      ra.call(SYS_accept4, static_cast<uint64_t>(listener), 0, 0, SOCK_CLOEXEC | SOCK_NONBLOCK);
  ra.call(SYS_close, static_cast<uint64_t>(listener));
  held_[{FdKind::kUnixSocket, a.id}] = {pb.vpid(), client};
  held_[{FdKind::kUnixSocket, b.id}] = {pa.vpid(), objects::park(pa, accepted, min_fd_, "accept4")};
}

void ObjectRevive::create_socket(const UnixSocketState& s) {
  auto key = std::make_pair(FdKind::kUnixSocket, s.id);
  if (held_.count(key)) return;  // made as the other end of a pair
  ProcessFill& h = holder_of(FdKind::kUnixSocket, s.id);
  uint64_t type = s.type | SOCK_CLOEXEC | SOCK_NONBLOCK;  // flags are the fd's, set on install
  if (s.peer && socket(s.peer).peer == s.id) return make_pair(s, socket(s.peer), h);
  if (s.peer_gone) {
    // A peer that is gone is stood in for until the queue is filled, then closed: the
    // socket reads as closed by its peer, as it would have once the peer went.
    ProcessFill& maker = process_or(s.peer_pid, h);
    RemotePtr fds = maker.put_struct(std::string(8, '\0'));
    {
      EffectiveCreds as(maker, s.peer_uid, s.peer_gid);
      maker.syscalls().check("socketpair", SYS_socketpair, AF_UNIX, type, 0, fds.addr);
    }
    int two[2];
    std::memcpy(two, maker.read_remote(fds, sizeof two).data(), sizeof two);
    held_[key] = {maker.vpid(), objects::park(maker, two[0], min_fd_, "socketpair")};
    stand_ins_[s.id] = {maker.vpid(), objects::park(maker, two[1], min_fd_, "socketpair")};
    return;
  }
  if (s.family == AF_NETLINK) {
    RemoteSyscalls& rs = h.syscalls();
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
  // A listener reports the process that called listen as its SO_PEERCRED, and hands that on
  // to whoever connects.
  ProcessFill& maker = s.state == kSocketListening ? process_or(s.peer_pid, h) : h;
  RemoteSyscalls& rs = maker.syscalls();
  Held me{maker.vpid(),
          objects::park(maker, rs.call(SYS_socket, AF_UNIX, type, 0), min_fd_, "socket")};
  held_[key] = me;
  if (!s.name.empty() && s.state != kSocketConnected) {
    if (s.name[0] == '/') {
      // The branch's files hold the original's socket inode at that path.
      std::string path = procfs::path(maker.host(), "root") + s.name.c_str();
      struct stat sb;
      if (::lstat(path.c_str(), &sb) == 0 && S_ISSOCK(sb.st_mode) && ::unlink(path.c_str()) < 0)
        throw_errno("unlink", path);
    }
    socklen_t len;
    RemotePtr a = remote_address(maker, s.name, &len);
    rs.check("bind", SYS_bind, static_cast<uint64_t>(me.fd), a.addr, len);
  }
  if (s.state == kSocketListening) {
    EffectiveCreds as(maker, s.peer_uid, s.peer_gid);
    rs.check("listen", SYS_listen, static_cast<uint64_t>(me.fd), s.backlog);
  }
  uint64_t to = s.peer_listener ? s.peer_listener : s.peer;
  if (to) {
    create_socket(socket(to));
    socklen_t len;
    RemotePtr a = remote_address(maker, socket(to).name, &len);
    rs.check("connect", SYS_connect, static_cast<uint64_t>(me.fd), a.addr, len);
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
