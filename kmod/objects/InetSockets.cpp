// TCP and UDP sockets, IPv4 and IPv6, of the session's own network namespace: unbound,
// bound, listening, UDP connected, and established TCP connections with data queued both
// ways. A connection is read and rebuilt in the kernel's TCP repair mode (TCP_REPAIR): its
// sequence numbers, the options its handshake negotiated, its windows and both queues go
// back without a packet on the wire, so each end revives on its own and the two meet again.
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cstring>

#include "base/Error.h"
#include "kmod/ProcessFill.h"
#include "kmod/objects/ObjectsInternal.h"

namespace deja::kmod {

namespace {

using objects::get_sockopt;
using objects::set_sockopt;

template <typename T>
void set_struct(int fd, int level, int name, const T* v, size_t count, const char* opt,
                const std::string& what) {
  if (::setsockopt(fd, level, name, v, static_cast<socklen_t>(sizeof(T) * count)) < 0)
    throw_errno(std::string("setsockopt(") + opt + ")", what);
}

// getsockname / getpeername as bytes; empty when there is no peer or no port.
std::string address(int fd, bool peer, const std::string& what) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  int r = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
               : ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  if (r < 0 && peer && errno == ENOTCONN) return {};
  if (r < 0) throw_errno(peer ? "getpeername" : "getsockname", what);
  uint16_t port = a.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(a).sin6_port
                                          : reinterpret_cast<sockaddr_in&>(a).sin_port;
  if (port == 0) return {};
  return std::string(reinterpret_cast<const char*>(&a), len);
}

int queued(int fd, unsigned long request, const char* name, const std::string& what) {
  int n = 0;
  if (::ioctl(fd, request, &n) < 0) throw_errno(std::string("ioctl(") + name + ")", what);
  return n;
}

// The whole of one TCP queue, without consuming it: `len` bytes are there (SIOCINQ/SIOCOUTQ).
std::string peek_tcp_queue(int fd, int queue, size_t len, const std::string& what) {
  set_sockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue, "TCP_REPAIR_QUEUE", what);
  std::string data(len, '\0');
  if (len) {
    ssize_t n = ::recv(fd, data.data(), len, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0) throw_errno("recv(MSG_PEEK) in repair mode", what);
    if (static_cast<size_t>(n) != len)
      throw Error(what + ": read " + std::to_string(n) + " of the " + std::to_string(len) +
                  " bytes queued " + (queue == TCP_SEND_QUEUE ? "to send" : "to read"));
  }
  return data;
}

uint32_t queue_seq(int fd, int queue, const std::string& what) {
  set_sockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue, "TCP_REPAIR_QUEUE", what);
  return static_cast<uint32_t>(get_sockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, "TCP_QUEUE_SEQ", what));
}

// A captured connection in repair mode for as long as this lives; it leaves without a window
// probe (nothing on the wire). Leaving clears SO_REUSEADDR, which the caller sets again.
class TcpRepair {
 public:
  TcpRepair(int fd, const std::string& what) : fd_(fd) {
    set_sockopt(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON, "TCP_REPAIR", what);
  }
  ~TcpRepair() {
    int queue = TCP_NO_QUEUE, off = TCP_REPAIR_OFF_NO_WP;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof queue);
    ::setsockopt(fd_, IPPROTO_TCP, TCP_REPAIR, &off, sizeof off);
  }
  TcpRepair(const TcpRepair&) = delete;
  TcpRepair& operator=(const TcpRepair&) = delete;

 private:
  int fd_;
};

// `info`: the connection's TCP_INFO, as read to learn its state.
void capture_connection(int fd, const tcp_info& info, InetSocketState& s, const std::string& what) {
  s.options = info.tcpi_options;
  s.snd_wscale = info.tcpi_snd_wscale;
  s.rcv_wscale = info.tcpi_rcv_wscale;
  s.mss = static_cast<uint32_t>(get_sockopt(fd, IPPROTO_TCP, TCP_MAXSEG, "TCP_MAXSEG", what));
  int inq = queued(fd, SIOCINQ, "SIOCINQ", what);
  int outq = queued(fd, SIOCOUTQ, "SIOCOUTQ", what);
  s.unsent = static_cast<uint64_t>(queued(fd, SIOCOUTQNSD, "SIOCOUTQNSD", what));
  TcpRepair repair(fd, what);
  s.recv_queue = peek_tcp_queue(fd, TCP_RECV_QUEUE, static_cast<size_t>(inq), what);
  s.recv_seq = queue_seq(fd, TCP_RECV_QUEUE, what) - static_cast<uint32_t>(inq);
  s.send_queue = peek_tcp_queue(fd, TCP_SEND_QUEUE, static_cast<size_t>(outq), what);
  s.send_seq = queue_seq(fd, TCP_SEND_QUEUE, what) - static_cast<uint32_t>(outq);
  tcp_repair_window window{};
  socklen_t len = sizeof window;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &window, &len) < 0)
    throw_errno("getsockopt(TCP_REPAIR_WINDOW)", what);
  s.window.assign(reinterpret_cast<const char*>(&window), sizeof window);
  if (s.options & TCPI_OPT_TIMESTAMPS)
    s.timestamp =
        static_cast<uint32_t>(get_sockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, "TCP_TIMESTAMP", what));
}

bool loopback_up(int fd, const std::string& what) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) throw_errno("ioctl(SIOCGIFFLAGS) of lo", what);
  return ifr.ifr_flags & IFF_UP;
}

void bring_up_loopback(int fd, const std::string& what) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) throw_errno("ioctl(SIOCGIFFLAGS) of lo", what);
  if (ifr.ifr_flags & IFF_UP) return;
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) throw_errno("ioctl(SIOCSIFFLAGS) of lo", what);
}

void bind_to(int fd, const std::string& a, const std::string& what) {
  if (::bind(fd, reinterpret_cast<const sockaddr*>(a.data()), static_cast<socklen_t>(a.size())) < 0)
    throw_errno("bind", what);
}

// Puts `data` in the queue repair mode has selected (or, outside it, sends it).
void send_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("send (refilling a TCP queue)", what);
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void restore_connection(int fd, const InetSocketState& s, const std::string& what) {
  auto set_seq = [&](int queue, uint32_t seq) {
    set_sockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue, "TCP_REPAIR_QUEUE", what);
    set_sockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, static_cast<int>(seq), "TCP_QUEUE_SEQ", what);
  };
  set_seq(TCP_SEND_QUEUE, s.send_seq);
  set_seq(TCP_RECV_QUEUE, s.recv_seq);
  bind_to(fd, s.local, what);
  // In repair mode connect sends nothing: the socket is established at once.
  if (::connect(fd, reinterpret_cast<const sockaddr*>(s.peer.data()),
                static_cast<socklen_t>(s.peer.size())) < 0)
    throw_errno("connect in repair mode", what);
  tcp_repair_opt opts[4];
  size_t n = 0;
  opts[n++] = {TCPOPT_MAXSEG, s.mss};
  if (s.options & TCPI_OPT_WSCALE) opts[n++] = {TCPOPT_WINDOW, s.snd_wscale | s.rcv_wscale << 16};
  if (s.options & TCPI_OPT_SACK) opts[n++] = {TCPOPT_SACK_PERMITTED, 0};
  if (s.options & TCPI_OPT_TIMESTAMPS) opts[n++] = {TCPOPT_TIMESTAMP, 0};
  set_struct(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, opts, n, "TCP_REPAIR_OPTIONS", what);
  if (s.options & TCPI_OPT_TIMESTAMPS)
    set_sockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, static_cast<int>(s.timestamp), "TCP_TIMESTAMP",
                what);
  if (s.unsent > s.send_queue.size())
    throw Error("image: " + what + " has more unsent bytes than its send queue holds");
  // Room for the queues whatever the original's buffers were (set again afterwards).
  int room = static_cast<int>(std::min<size_t>(s.send_queue.size() + s.recv_queue.size() + 65536, 1 << 30));
  set_sockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, room, "SO_SNDBUFFORCE", what);
  set_sockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, room, "SO_RCVBUFFORCE", what);
  set_sockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, "TCP_REPAIR_QUEUE", what);
  send_all(fd, s.recv_queue, what);
  // What had been sent goes back as sent (the peer acknowledges it or it is sent again);
  // what had not is sent once the connection is out of repair.
  set_sockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "TCP_REPAIR_QUEUE", what);
  send_all(fd, std::string_view(s.send_queue).substr(0, s.send_queue.size() - s.unsent), what);
  // Last: the kernel checks the windows against the sequence numbers the queues moved on.
  if (s.window.size() != sizeof(tcp_repair_window))
    throw Error("image: " + what + " has a window record of " + std::to_string(s.window.size()) + " bytes");
  set_struct(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, reinterpret_cast<const tcp_repair_window*>(s.window.data()),
             1, "TCP_REPAIR_WINDOW", what);
}

void set_options(int fd, const InetSocketState& s, const std::string& what) {
  set_sockopt(fd, SOL_SOCKET, SO_REUSEADDR, static_cast<int>(s.reuseaddr), "SO_REUSEADDR", what);
  if (s.keepalive) set_sockopt(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE", what);
  if (s.nodelay) set_sockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY", what);
  // getsockopt reports the doubled value the kernel keeps; setsockopt doubles what it gets.
  if (s.sndbuf)
    set_sockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, static_cast<int>(s.sndbuf / 2), "SO_SNDBUFFORCE",
                what);
  if (s.rcvbuf)
    set_sockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, static_cast<int>(s.rcvbuf / 2), "SO_RCVBUFFORCE",
                what);
}

}  // namespace

// ---- capture ---------------------------------------------------------------------------

InetSocketState objects::capture_inet_socket(const FdSite& site, int fd, uint64_t inode, int family) {
  std::string what = site.what();
  InetSocketState s;
  s.id = inode;
  s.family = static_cast<uint32_t>(family);
  s.type = static_cast<uint32_t>(get_sockopt(fd, SOL_SOCKET, SO_TYPE, "SO_TYPE", what));
  s.protocol = static_cast<uint32_t>(get_sockopt(fd, SOL_SOCKET, SO_PROTOCOL, "SO_PROTOCOL", what));
  bool tcp = s.type == SOCK_STREAM && s.protocol == IPPROTO_TCP;
  bool udp = s.type == SOCK_DGRAM && s.protocol == IPPROTO_UDP;
  std::string kind = family == AF_INET6 ? "an IPv6" : "an IPv4";
  if (!tcp && !udp)
    throw Error(what + " is " + kind + " socket of type " + std::to_string(s.type) + " and protocol " +
                std::to_string(s.protocol) + ", not supported (TCP and UDP are)");
  s.local = address(fd, false, what);
  s.peer = address(fd, true, what);
  s.reuseaddr =
      static_cast<uint32_t>(get_sockopt(fd, SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", what));
  s.reuseport =
      static_cast<uint32_t>(get_sockopt(fd, SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", what));
  s.keepalive =
      static_cast<uint32_t>(get_sockopt(fd, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", what));
  s.sndbuf = static_cast<uint64_t>(get_sockopt(fd, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF", what));
  s.rcvbuf = static_cast<uint64_t>(get_sockopt(fd, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF", what));
  if (family == AF_INET6)
    s.v6only =
        static_cast<uint32_t>(get_sockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", what));
  s.loopback_up = loopback_up(fd, what);
  if (udp) {
    s.state = s.peer.empty() ? kSocketUnconnected : kSocketConnected;
    int waiting = queued(fd, SIOCINQ, "SIOCINQ", what);
    if (waiting > 0)
      throw Error(what + " is a UDP socket with datagrams queued, not supported yet");
    return s;
  }
  s.nodelay = static_cast<uint32_t>(get_sockopt(fd, IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", what));
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0) throw_errno("getsockopt(TCP_INFO)", what);
  switch (info.tcpi_state) {
    case TCP_LISTEN:
      // For a listener the kernel reports its backlog and the connections waiting in it.
      if (info.tcpi_unacked)
        throw Error(what + " is a TCP listener with " + std::to_string(info.tcpi_unacked) +
                    " connections not accepted yet, not supported yet");
      s.state = kSocketListening;
      s.backlog = info.tcpi_sacked;
      return s;
    case TCP_CLOSE:
      s.state = kSocketUnconnected;
      s.peer.clear();
      return s;
    case TCP_ESTABLISHED:
      s.state = kSocketConnected;
      capture_connection(fd, info, s, what);
      // Leaving repair mode cleared SO_REUSEADDR on the original: its own value again.
      set_sockopt(fd, SOL_SOCKET, SO_REUSEADDR, static_cast<int>(s.reuseaddr), "SO_REUSEADDR",
                  what);
      return s;
    default:
      throw Error(what + " is a TCP socket in state " + std::to_string(info.tcpi_state) +
                  " (connecting or closing), not supported yet");
  }
}

// ---- revive ----------------------------------------------------------------------------

void ObjectRevive::create_inet_socket(const InetSocketState& s) {
  std::string what = "revived socket " + std::to_string(s.id);
  ProcessFill& h = holder_of(FdKind::kInetSocket, s.id);
  uint64_t type = s.type | SOCK_CLOEXEC | SOCK_NONBLOCK;  // flags are the fd's, set on install
  Held me{h.vpid(), objects::park(h, h.syscalls().call(SYS_socket, s.family, type, s.protocol),
                                  min_fd_, "socket(" + std::string(s.family == AF_INET6 ? "AF_INET6" : "AF_INET") + ")")};
  held_[{FdKind::kInetSocket, s.id}] = me;
  ScopedFd fd = copy_of(me, what);
  if (s.loopback_up) bring_up_loopback(fd.get(), what);
  if (s.family == AF_INET6)
    set_sockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, static_cast<int>(s.v6only), "IPV6_V6ONLY",
                what);
  if (s.reuseport) set_sockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT", what);
  if (s.type == SOCK_STREAM && s.state == kSocketConnected) {
    set_sockopt(fd.get(), IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON, "TCP_REPAIR", what);
    return restore_connection(fd.get(), s, what);
  }
  // Listeners and bound sockets share ports with connections: every socket may take its
  // address again, as the originals held them together.
  set_sockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", what);
  if (!s.local.empty()) bind_to(fd.get(), s.local, what);
  if (s.state == kSocketListening && ::listen(fd.get(), static_cast<int>(s.backlog)) < 0)
    throw_errno("listen", what);
  if (s.type == SOCK_DGRAM && !s.peer.empty() &&
      ::connect(fd.get(), reinterpret_cast<const sockaddr*>(s.peer.data()),
                static_cast<socklen_t>(s.peer.size())) < 0)
    throw_errno("connect", what);
}

void ObjectRevive::finish_inet_socket(const InetSocketState& s) {
  std::string what = "revived socket " + std::to_string(s.id);
  ScopedFd fd = copy_of(held_.at({FdKind::kInetSocket, s.id}), what);
  if (s.type == SOCK_STREAM && s.state == kSocketConnected) {
    // Out of repair with a window probe, so the peer learns the window at once; then what
    // had never been sent goes out as new data.
    set_sockopt(fd.get(), IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE, "TCP_REPAIR_QUEUE", what);
    set_sockopt(fd.get(), IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF, "TCP_REPAIR", what);
    send_all(fd.get(), std::string_view(s.send_queue).substr(s.send_queue.size() - s.unsent), what);
  }
  set_options(fd.get(), s, what);
}

}  // namespace deja::kmod
