// Unix sockets: stream, seqpacket and datagram pairs with bytes and messages in flight both
// ways; listeners bound to a path and to an abstract name, with a connection accepted (data
// queued both ways) and one not accepted yet; a shutdown half; a peer that closed; a pair
// shared with a child; O_NONBLOCK, SO_PASSCRED and a buffer size. After the revive the
// listeners also take new connections.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <string>

#include "zdtm.h"

static std::string pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + seed) & 0xff);
  return s;
}

static void put(int fd, const std::string& s) {
  for (size_t done = 0; done < s.size();) {
    ssize_t n = send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n <= 0) zdtm_fail("send of %zu bytes", s.size());
    done += static_cast<size_t>(n);
  }
}

static std::string take(int fd, size_t n) {
  std::string s(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, &s[got], n - got, 0);
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  s.resize(got);
  return s;
}

static std::string message(int fd) {
  char buf[8192];
  ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  return n < 0 ? std::string("<none>") : std::string(buf, static_cast<size_t>(n));
}

static sockaddr_un address(const std::string& name, socklen_t* len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path, name.data(), name.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  return a;
}

static int listener(const std::string& name) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  socklen_t len;
  sockaddr_un a = address(name, &len);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), len) || listen(fd, 8)) zdtm_fail("listen on %s", name.c_str() + (name[0] ? 0 : 1));
  return fd;
}

static int client(const std::string& name) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  socklen_t len;
  sockaddr_un a = address(name, &len);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), len)) zdtm_fail("connect to %s", name.c_str() + (name[0] ? 0 : 1));
  return fd;
}

static void check_conversation(int listen_fd, int pending, const char* what) {
  // The connection made before the checkpoint and never accepted is still there.
  fcntl(listen_fd, F_SETFL, O_NONBLOCK);
  int s = accept(listen_fd, nullptr, nullptr);
  if (s < 0) zdtm_fail("%s: the connection not accepted yet is lost", what);
  put(pending, "ping");
  if (take(s, 4) != "ping") zdtm_fail("%s: pending connection does not carry data", what);
  put(s, "pong");
  if (take(pending, 4) != "pong") zdtm_fail("%s: pending connection does not answer", what);
}

int main() {
  zdtm_init();
  char cwd[512];
  if (!getcwd(cwd, sizeof cwd)) zdtm_fail("getcwd");
  std::string path = std::string(cwd) + "/listen.sock";
  std::string abstract = std::string(1, '\0') + "zdtm-unix-" + std::to_string(getpid());

  int st[2], sq[2], dg[2], sh[2], gone[2], ch[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq) ||
      socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) || socketpair(AF_UNIX, SOCK_STREAM, 0, sh) ||
      socketpair(AF_UNIX, SOCK_STREAM, 0, gone) || socketpair(AF_UNIX, SOCK_STREAM, 0, ch))
    zdtm_fail("socketpair");
  std::string a = pattern(100000, 1), b = pattern(3000, 2);
  put(st[0], a);
  put(st[1], b);
  fcntl(st[0], F_SETFL, O_NONBLOCK);
  int one = 1, size = 96 * 1024;
  setsockopt(st[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
  setsockopt(st[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  int sndbuf = 0;
  socklen_t optlen = sizeof sndbuf;
  getsockopt(st[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, &optlen);

  put(sq[0], "one");
  put(sq[0], pattern(5000, 3));
  put(sq[0], "x");
  put(sq[1], "back");
  put(dg[0], "d1");
  put(dg[0], pattern(2000, 4));
  put(dg[1], "d-back");
  put(sh[0], "last");
  shutdown(sh[0], SHUT_WR);
  put(gone[0], "bye");
  close(gone[0]);

  int lp = listener(path), la = listener(abstract);
  int c1 = client(path);
  int s1 = accept(lp, nullptr, nullptr);
  put(s1, "srv->c1");
  put(c1, "c1->srv");
  int c2 = client(path), c3 = client(abstract);

  pid_t child = fork();
  if (child == 0) {
    close(ch[0]);
    put(ch[1], "child");
    if (take(ch[1], 2) != "go") _exit(10);
    put(ch[1], "ok");
    _exit(0);
  }
  close(ch[1]);
  zdtm_ready();
  zdtm_wait();

  if (!(fcntl(st[0], F_GETFL) & O_NONBLOCK)) zdtm_fail("O_NONBLOCK lost");
  int v = 0;
  optlen = sizeof v;
  getsockopt(st[1], SOL_SOCKET, SO_PASSCRED, &v, &optlen);
  if (!v) zdtm_fail("SO_PASSCRED lost");
  getsockopt(st[1], SOL_SOCKET, SO_SNDBUF, &v, &optlen);
  if (v != sndbuf) zdtm_fail("SO_SNDBUF %d, was %d", v, sndbuf);
  int queued = 0;
  ioctl(st[1], FIONREAD, &queued);
  if (queued != static_cast<int>(a.size())) zdtm_fail("stream queue holds %d bytes, not %zu", queued, a.size());
  if (take(st[1], a.size()) != a) zdtm_fail("stream bytes one way differ");
  if (take(st[0], b.size()) != b) zdtm_fail("stream bytes the other way differ");

  if (message(sq[1]) != "one" || message(sq[1]) != pattern(5000, 3) || message(sq[1]) != "x")
    zdtm_fail("seqpacket messages or their boundaries differ");
  if (message(sq[1]) != "<none>") zdtm_fail("seqpacket has an extra message");
  if (message(sq[0]) != "back") zdtm_fail("seqpacket message the other way differs");
  if (message(dg[1]) != "d1" || message(dg[1]) != pattern(2000, 4))
    zdtm_fail("datagrams or their boundaries differ");
  if (message(dg[0]) != "d-back") zdtm_fail("datagram the other way differs");
  put(dg[0], "after");
  if (message(dg[1]) != "after") zdtm_fail("datagram pair does not carry new messages");

  if (take(sh[1], 4) != "last") zdtm_fail("bytes before the shutdown lost");
  char c;
  if (recv(sh[1], &c, 1, 0) != 0) zdtm_fail("no end of stream after the peer's shutdown");
  if (send(sh[0], "z", 1, MSG_NOSIGNAL) != -1) zdtm_fail("sending after SHUT_WR works");
  put(sh[1], "reply");
  if (take(sh[0], 5) != "reply") zdtm_fail("the open half of a shut-down pair is broken");

  if (take(gone[1], 3) != "bye") zdtm_fail("bytes from a closed peer lost");
  if (recv(gone[1], &c, 1, 0) != 0) zdtm_fail("a socket whose peer closed does not read as closed");

  if (take(s1, 7) != "c1->srv" || take(c1, 7) != "srv->c1") zdtm_fail("accepted connection's bytes differ");
  check_conversation(lp, c2, "path listener");
  check_conversation(la, c3, "abstract listener");
  sockaddr_un name{};
  socklen_t name_len = sizeof name;
  getsockname(lp, reinterpret_cast<sockaddr*>(&name), &name_len);
  if (std::string(name.sun_path) != path) zdtm_fail("listener's name is %s", name.sun_path);
  fcntl(lp, F_SETFL, 0);
  fcntl(la, F_SETFL, 0);
  int c4 = client(path), c5 = client(abstract);
  int s4 = accept(lp, nullptr, nullptr), s5 = accept(la, nullptr, nullptr);
  put(c4, "new");
  put(c5, "new");
  if (take(s4, 3) != "new" || take(s5, 3) != "new") zdtm_fail("listeners do not take new connections");

  if (take(ch[0], 5) != "child") zdtm_fail("the child's queued bytes differ");
  put(ch[0], "go");
  if (take(ch[0], 2) != "ok") zdtm_fail("the child's pair is broken");
  int status;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    zdtm_fail("child status %d", status);
  zdtm_pass("zdtm_unix_sockets");
}
