// Credentials on unix sockets: SO_PEERCRED of a socketpair (its creator), of both ends of a
// connection made by connect and accept between this process and a child running as uid
// 1000 (each end reports the other's process) and of a listener; and SCM_CREDENTIALS of
// messages in flight from both processes, on a datagram and a stream socket with SO_PASSCRED
// (the stream's reads stop where the sender changes), and of one sent before either end had
// SO_PASSCRED (none: pid 0 and the overflow ids). Both copies check all of it after the
// checkpoint: the revived one must report the same PIDs, uids and gids.
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <string>

#include "zdtm_unix.h"

static constexpr uid_t kUser = 1000;
static constexpr gid_t kGroup = 1000;

static ucred peer_of(int fd, const char* what) {
  ucred c{};
  socklen_t len = sizeof c;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) < 0)
    zdtm_fail("SO_PEERCRED of %s: %m", what);
  return c;
}

static void expect_peer(int fd, pid_t pid, uid_t uid, gid_t gid, const char* what) {
  ucred c = peer_of(fd, what);
  if (c.pid != pid || c.uid != uid || c.gid != gid)
    zdtm_fail("SO_PEERCRED of %s: pid %d uid %d gid %d, expected %d %d %d", what, c.pid, c.uid,
              c.gid, pid, uid, gid);
}

static void send_text(int fd, const char* text) {
  if (send(fd, text, strlen(text), MSG_NOSIGNAL) != static_cast<ssize_t>(strlen(text)))
    zdtm_fail("send '%s': %m", text);
}

static void expect_message(int fd, const char* text, pid_t pid, uid_t uid, gid_t gid,
                           const char* what) {
  ZdtmMessage got = zdtm_receive(fd);
  const ucred& from = got.from;
  if (got.bytes != text) zdtm_fail("%s: read '%s', expected '%s'", what, got.bytes.c_str(), text);
  if (from.pid != pid || from.uid != uid || from.gid != gid)
    zdtm_fail("%s: '%s' came from pid %d uid %d gid %d, expected %d %d %d", what, text, from.pid,
              from.uid, from.gid, pid, uid, gid);
}

// The uid or gid a receiver sees for a message that came without credentials.
static unsigned overflow_id(const char* which) {
  char path[64];
  snprintf(path, sizeof path, "/proc/sys/kernel/overflow%s", which);
  FILE* f = fopen(path, "r");
  unsigned v = 0;
  if (!f || fscanf(f, "%u", &v) != 1) zdtm_fail("read %s", path);
  fclose(f);
  return v;
}

static sockaddr_un abstract_address(socklen_t* len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::string name = "zdtm-creds-" + std::to_string(getpid());
  memcpy(a.sun_path + 1, name.data(), name.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return a;
}

int main() {
  zdtm_init();
  pid_t me = getpid();
  int pair[2], dg[2], st[2], late[2], go[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) ||
      socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_DGRAM, 0, late) ||
      pipe(go))
    zdtm_fail("socketpair");
  send_text(late[1], "no-creds");
  int one = 1;
  setsockopt(late[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
  setsockopt(dg[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
  setsockopt(st[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
  socklen_t len;
  sockaddr_un a = abstract_address(&len);
  int listener = socket(AF_UNIX, SOCK_STREAM, 0);
  if (bind(listener, reinterpret_cast<sockaddr*>(&a), len) || listen(listener, 4))
    zdtm_fail("listen");

  send_text(dg[1], "dg-parent-1");
  send_text(st[1], "st-parent-1");
  int ready[2];
  if (pipe(ready)) zdtm_fail("pipe");
  pid_t child = fork();
  if (child == 0) {
    close(go[1]);
    close(ready[0]);
    if (setresgid(kGroup, kGroup, kGroup) || setresuid(kUser, kUser, kUser)) _exit(20);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(c, reinterpret_cast<sockaddr*>(&a), len)) _exit(21);
    send_text(dg[1], "dg-child");
    send_text(st[1], "st-child");
    if (write(ready[1], "r", 1) != 1) _exit(22);
    char x;
    if (read(go[0], &x, 1) != 1) _exit(23);
    // The connecting end reports the listener's process; the pair its creator.
    ucred p = peer_of(c, "the child's connection");
    if (p.pid != me || p.uid != 0 || p.gid != 0) _exit(24);
    p = peer_of(pair[1], "the pair's end the child has");
    if (p.pid != me || p.uid != 0) _exit(25);
    _exit(0);
  }
  close(ready[1]);
  char x;
  if (read(ready[0], &x, 1) != 1) zdtm_fail("child did not start");
  int accepted = accept(listener, nullptr, nullptr);
  if (accepted < 0) zdtm_fail("accept");
  send_text(dg[1], "dg-parent-2");
  send_text(st[1], "st-parent-2");
  zdtm_ready();
  zdtm_wait();

  expect_peer(pair[0], me, 0, 0, "a socketpair");
  expect_peer(listener, me, 0, 0, "a listener");
  expect_peer(accepted, child, kUser, kGroup, "the accepted end of the child's connection");
  expect_message(dg[0], "dg-parent-1", me, 0, 0, "datagram");
  expect_message(dg[0], "dg-child", child, kUser, kGroup, "datagram");
  expect_message(dg[0], "dg-parent-2", me, 0, 0, "datagram");
  expect_message(st[0], "st-parent-1", me, 0, 0, "stream");
  expect_message(st[0], "st-child", child, kUser, kGroup, "stream");
  expect_message(st[0], "st-parent-2", me, 0, 0, "stream");
  // Sent while neither end had SO_PASSCRED: no credentials came with it.
  expect_message(late[0], "no-creds", 0, overflow_id("uid"), overflow_id("gid"), "late");
  if (write(go[1], "g", 1) != 1) zdtm_fail("write to child");
  int status;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    zdtm_fail("child's own checks failed: status %x", status);
  zdtm_pass("zdtm_unix_creds");
}
