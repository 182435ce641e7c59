// TCP and UDP on the session's own network namespace: an IPv4 listener, an established
// connection with bytes queued both ways (some never sent, held back by the peer's small
// window), an IPv6 connection, a bound UDP socket and a connected one. After the revive every
// queued byte arrives in order, the connections go on both ways, the listener takes a new
// connection, addresses and options are as they were.
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "zdtm.h"

static std::string name_of(int fd, bool peer) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if ((peer ? getpeername : getsockname)(fd, reinterpret_cast<sockaddr*>(&a), &len) < 0) return "none";
  return std::string(reinterpret_cast<char*>(&a), len);
}

static int listener(int family) {
  int l = socket(family, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage a{};
  socklen_t len;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&a);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *in;
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a);
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_loopback;
    len = sizeof *in6;
  }
  if (bind(l, reinterpret_cast<sockaddr*>(&a), len) < 0) zdtm_fail("bind: %m");
  if (listen(l, 8) < 0) zdtm_fail("listen: %m");
  return l;
}

static int connect_to(int l, int family, int rcvbuf) {
  int c = socket(family, SOCK_STREAM, 0);
  if (rcvbuf) setsockopt(c, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  std::string a = name_of(l, false);
  if (connect(c, reinterpret_cast<const sockaddr*>(a.data()), a.size()) < 0) zdtm_fail("connect: %m");
  return c;
}

static std::string pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed + i / 251) % 26);
  return s;
}

// Reads exactly n bytes (waiting up to 10 s for them).
static std::string read_exactly(int fd, size_t n) {
  std::string out;
  char buf[65536];
  while (out.size() < n) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) zdtm_fail("only %zu of %zu bytes arrived", out.size(), n);
    ssize_t r = read(fd, buf, std::min(sizeof buf, n - out.size()));
    if (r <= 0) zdtm_fail("read: %zd after %zu of %zu bytes: %m", r, out.size(), n);
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

static void write_all(int fd, const std::string& s) {
  for (size_t done = 0; done < s.size();) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, 10000) <= 0) zdtm_fail("cannot write");
    ssize_t w = write(fd, s.data() + done, s.size() - done);
    if (w < 0 && errno == EAGAIN) continue;
    if (w <= 0) zdtm_fail("write: %m");
    done += static_cast<size_t>(w);
  }
}

static int get_int(int fd, int level, int name) {
  int v = 0;
  socklen_t len = sizeof v;
  getsockopt(fd, level, name, &v, &len);
  return v;
}

int main() {
  zdtm_init();
  zdtm_loopback_up();
  int l4 = listener(AF_INET);
  // The client reads nothing and has a small window: the server's big write stays partly in
  // the server's send queue, some of it never sent.
  int c4 = connect_to(l4, AF_INET, 4096);
  int a4 = accept(l4, nullptr, nullptr);
  if (a4 < 0) zdtm_fail("accept: %m");
  int one = 1;
  setsockopt(c4, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(a4, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  fcntl(a4, F_SETFL, O_NONBLOCK);
  const std::string to_server = pattern(3000, 1), to_client = pattern(400000, 2);
  write_all(c4, to_server);
  size_t sent = 0;
  while (sent < to_client.size()) {  // as much as fits: client's queue and the server's
    ssize_t w = write(a4, to_client.data() + sent, to_client.size() - sent);
    if (w <= 0) break;
    sent += static_cast<size_t>(w);
  }
  if (sent < 100000) zdtm_fail("only %zu bytes went into the queues", sent);
  int l6 = listener(AF_INET6);
  int c6 = connect_to(l6, AF_INET6, 0);
  int a6 = accept(l6, nullptr, nullptr);
  write_all(c6, "six");
  int u1 = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in ua{};
  ua.sin_family = AF_INET;
  ua.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(u1, reinterpret_cast<sockaddr*>(&ua), sizeof ua) < 0) zdtm_fail("bind udp: %m");
  int u2 = socket(AF_INET, SOCK_DGRAM, 0);
  std::string u1_name = name_of(u1, false);
  if (connect(u2, reinterpret_cast<const sockaddr*>(u1_name.data()), u1_name.size()) < 0)
    zdtm_fail("connect udp: %m");
  usleep(100000);  // let loopback deliver what is in flight
  const int fds[] = {l4, c4, a4, l6, c6, a6, u1, u2};
  std::string names[8][2];
  for (int i = 0; i < 8; ++i) names[i][0] = name_of(fds[i], false), names[i][1] = name_of(fds[i], true);
  zdtm_ready();
  zdtm_wait();

  for (int i = 0; i < 8; ++i)
    if (names[i][0] != name_of(fds[i], false) || names[i][1] != name_of(fds[i], true))
      zdtm_fail("socket %d has other addresses", i);
  if (!get_int(c4, IPPROTO_TCP, TCP_NODELAY) || !get_int(a4, SOL_SOCKET, SO_KEEPALIVE) ||
      !(fcntl(a4, F_GETFL) & O_NONBLOCK) || !get_int(l4, SOL_SOCKET, SO_REUSEADDR))
    zdtm_fail("options lost");
  if (read_exactly(a4, to_server.size()) != to_server) zdtm_fail("the server read other bytes");
  if (read_exactly(c4, sent) != to_client.substr(0, sent)) zdtm_fail("the client read other bytes");
  // Both ways still work after the queues are drained.
  write_all(c4, "ping");
  if (read_exactly(a4, 4) != "ping") zdtm_fail("ping");
  write_all(a4, "pong");
  if (read_exactly(c4, 4) != "pong") zdtm_fail("pong");
  if (read_exactly(a6, 3) != "six") zdtm_fail("IPv6 bytes");
  write_all(a6, "back");
  if (read_exactly(c6, 4) != "back") zdtm_fail("IPv6 answer");
  // The listener takes a new connection.
  int c = connect_to(l4, AF_INET, 0);
  int a = accept(l4, nullptr, nullptr);
  if (a < 0) zdtm_fail("accept after the revive: %m");
  write_all(c, "new");
  if (read_exactly(a, 3) != "new") zdtm_fail("new connection");
  if (send(u2, "dgram", 5, 0) != 5) zdtm_fail("udp send: %m");
  char buf[16] = {};
  pollfd p{u1, POLLIN, 0};
  if (poll(&p, 1, 5000) != 1 || recv(u1, buf, sizeof buf, 0) != 5 || strcmp(buf, "dgram") != 0)
    zdtm_fail("udp datagram");
  zdtm_pass("zdtm_tcp");
}
