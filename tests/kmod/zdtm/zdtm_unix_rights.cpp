// Descriptors in flight (SCM_RIGHTS) on unix sockets, kept with their messages:
// - a stream carries, one message each: an eventfd its sender closed; a file this process also
//   holds open (the same open file: one offset); a file sent and closed, twice in one message
//   (one open file, its offset and O_APPEND kept); the end of a socketpair sent and closed, whose
//   own queue carries bytes and an eventfd in flight (nested); then a message without any;
// - a seqpacket message carries two descriptors, a pipe's write end (also held here) and a
//   timerfd sent and closed, in that order;
// - a datagram carries a socketpair end from a child, which kept nothing of it; then a pipe's
//   read end with bytes queued, both ends closed since (the bytes, then end of file); then
//   another pipe's read end, sent and closed, whose write end is kept here; then a memfd sent
//   and closed (its name, contents and offset kept).
// After the checkpoint every message comes back with its bytes, its boundaries and its
// descriptors in order, and each descriptor is the object it was.
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "zdtm_unix.h"

static void send_fds(int sock, const char* text, std::vector<int> fds) {
  iovec iov{const_cast<char*>(text), strlen(text)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  if (!fds.empty()) {
    m.msg_control = control;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  if (sendmsg(sock, &m, MSG_NOSIGNAL) != static_cast<ssize_t>(strlen(text)))
    zdtm_fail("sendmsg '%s': %m", text);
}

static std::vector<int> expect(int sock, const char* text, size_t count, const char* what) {
  ZdtmMessage got = zdtm_receive(sock);
  if (got.bytes != text) zdtm_fail("%s: read '%s', expected '%s'", what, got.bytes.c_str(), text);
  if (got.fds.size() != count)
    zdtm_fail("%s: '%s' brought %zu descriptors, not %zu", what, text, got.fds.size(), count);
  return got.fds;
}

static std::string link_of(int fd) {
  char path[64], target[256];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, target, sizeof target - 1);
  return n < 0 ? "" : std::string(target, static_cast<size_t>(n));
}

static void expect_eventfd(int fd, uint64_t count, const char* what) {
  if (link_of(fd) != "anon_inode:[eventfd]")
    zdtm_fail("%s is %s, not an eventfd", what, link_of(fd).c_str());
  uint64_t v = 0;
  if (read(fd, &v, sizeof v) != sizeof v || v != count)
    zdtm_fail("%s: eventfd counter %llu, expected %llu", what, (unsigned long long)v,
              (unsigned long long)count);
}

static int new_eventfd(uint64_t count) {
  int fd = eventfd(0, EFD_NONBLOCK);
  if (fd < 0 || write(fd, &count, sizeof count) != sizeof count) zdtm_fail("eventfd");
  return fd;
}

static bool same_file(int a, int b) {
  pid_t me = getpid();
  return syscall(SYS_kcmp, me, me, KCMP_FILE, a, b) == 0;
}

int main() {
  zdtm_init();
  int st[2], sq[2], dg[2], inner[2], gift[2], p[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq) ||
      socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) || socketpair(AF_UNIX, SOCK_STREAM, 0, inner) ||
      pipe(p))
    zdtm_fail("socketpair/pipe");

  int ev = new_eventfd(5);
  send_fds(st[1], "eventfd", {ev});
  close(ev);
  int file = open("rights.txt", O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (file < 0 || write(file, "0123456789", 10) != 10 || lseek(file, 3, SEEK_SET) != 3)
    zdtm_fail("file");
  send_fds(st[1], "file", {file});
  int lonely = open("lonely.txt", O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0600);
  if (lonely < 0 || write(lonely, "abcdef", 6) != 6 || lseek(lonely, 2, SEEK_SET) != 2)
    zdtm_fail("lonely file");
  send_fds(st[1], "lonely", {lonely, lonely});
  close(lonely);
  // inner[0] travels with bytes and an eventfd of its own queued on it.
  int ev2 = new_eventfd(9);
  send_fds(inner[1], "nested", {ev2});
  close(ev2);
  send_fds(st[1], "socket", {inner[0]});
  close(inner[0]);
  send_fds(st[1], "plain", {});

  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  itimerspec its{{3600, 0}, {3600, 0}};
  if (tfd < 0 || timerfd_settime(tfd, 0, &its, nullptr)) zdtm_fail("timerfd");
  send_fds(sq[1], "two", {p[1], tfd});
  close(tfd);
  send_fds(sq[1], "after", {});

  pid_t child = fork();
  if (child == 0) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, gift)) _exit(20);
    const char* hello = "from the child's pair";
    if (write(gift[1], hello, strlen(hello)) != (ssize_t)strlen(hello)) _exit(21);
    send_fds(dg[1], "gift", {gift[0]});
    _exit(0);
  }
  int status;
  if (waitpid(child, &status, 0) != child || status != 0) zdtm_fail("child: status %x", status);
  int gone_pipe[2], kept_pipe[2];
  if (pipe(gone_pipe) || pipe(kept_pipe) || write(gone_pipe[1], "piped", 5) != 5) zdtm_fail("pipe");
  close(gone_pipe[1]);
  send_fds(dg[1], "gone pipe", {gone_pipe[0]});
  close(gone_pipe[0]);
  send_fds(dg[1], "kept pipe", {kept_pipe[0]});
  close(kept_pipe[0]);
  int mem = memfd_create("zdtm-gift", 0);
  if (mem < 0 || write(mem, "memory!", 7) != 7 || lseek(mem, 3, SEEK_SET) != 3) zdtm_fail("memfd");
  send_fds(dg[1], "memfd", {mem});
  close(mem);
  zdtm_ready();
  zdtm_wait();

  std::vector<int> got = expect(st[0], "eventfd", 1, "stream");
  expect_eventfd(got[0], 5, "the eventfd in flight");
  got = expect(st[0], "file", 1, "stream");
  if (!same_file(got[0], file))
    zdtm_fail("the file in flight is not the open file this process holds");
  if (lseek(got[0], 0, SEEK_CUR) != 3) zdtm_fail("the file in flight lost its offset");
  got = expect(st[0], "lonely", 2, "stream");
  if (!same_file(got[0], got[1])) zdtm_fail("one file sent twice came back as two open files");
  if (link_of(got[0]).find("/lonely.txt") == std::string::npos)
    zdtm_fail("the lonely file is %s", link_of(got[0]).c_str());
  if (!(fcntl(got[0], F_GETFL) & O_APPEND)) zdtm_fail("the lonely file lost O_APPEND");
  char rest[8] = {};
  if (read(got[0], rest, sizeof rest) != 4 || strcmp(rest, "cdef") != 0)
    zdtm_fail("the lonely file read '%s' from its offset, expected 'cdef'", rest);
  got = expect(st[0], "socket", 1, "stream");
  int sock = got[0];
  std::vector<int> nested = expect(sock, "nested", 1, "the socket in flight");
  expect_eventfd(nested[0], 9, "the eventfd in flight on a socket in flight");
  if (write(inner[1], "x", 1) != 1 || read(sock, &status, 1) != 1)
    zdtm_fail("the socket in flight is no longer its pair's peer");
  expect(st[0], "plain", 0, "stream");

  got = expect(sq[0], "two", 2, "seqpacket");
  if (!same_file(got[0], p[1])) zdtm_fail("the first descriptor is not the pipe's write end");
  if (link_of(got[1]) != "anon_inode:[timerfd]")
    zdtm_fail("the second descriptor is %s", link_of(got[1]).c_str());
  itimerspec left{};
  if (timerfd_gettime(got[1], &left) || left.it_interval.tv_sec != 3600 ||
      left.it_value.tv_sec == 0)
    zdtm_fail("the timerfd in flight lost its setting");
  if (write(got[0], "y", 1) != 1) zdtm_fail("write to the pipe in flight");
  char c = 0;
  if (read(p[0], &c, 1) != 1 || c != 'y') zdtm_fail("the pipe in flight is not the pipe");
  expect(sq[0], "after", 0, "seqpacket");

  got = expect(dg[0], "gift", 1, "datagram");
  char buf[64] = {};
  if (read(got[0], buf, sizeof buf) != (ssize_t)strlen("from the child's pair") ||
      strcmp(buf, "from the child's pair") != 0)
    zdtm_fail("the child's socket in flight lost its queue: '%s'", buf);
  got = expect(dg[0], "gone pipe", 1, "datagram");
  memset(buf, 0, sizeof buf);
  if (read(got[0], buf, sizeof buf) != 5 || strcmp(buf, "piped") != 0 || read(got[0], buf, 1) != 0)
    zdtm_fail("the pipe in flight alone lost its bytes or its end of file: '%s'", buf);
  got = expect(dg[0], "kept pipe", 1, "datagram");
  if (write(kept_pipe[1], "z", 1) != 1 || read(got[0], buf, 1) != 1 || buf[0] != 'z')
    zdtm_fail("the pipe end in flight is not of the pipe whose write end is held");
  got = expect(dg[0], "memfd", 1, "datagram");
  memset(buf, 0, sizeof buf);
  if (link_of(got[0]).rfind("/memfd:zdtm-gift", 0) != 0)
    zdtm_fail("the memfd is %s", link_of(got[0]).c_str());
  if (read(got[0], buf, sizeof buf) != 4 || strcmp(buf, "ory!") != 0)
    zdtm_fail("the memfd in flight read '%s' from its offset, expected 'ory!'", buf);
  unlink("rights.txt");
  unlink("lonely.txt");
  zdtm_pass("zdtm_unix_rights");
}
