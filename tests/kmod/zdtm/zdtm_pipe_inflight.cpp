// Pipes with bytes in flight: one inside a process, one between parent and child (the child
// holds the write end, the parent the read end), with a non-default buffer size and
// O_NONBLOCK on one end.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "zdtm.h"

static std::string pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 13 + seed) & 0xff);
  return s;
}

static std::string drain(int fd, size_t n) {
  std::string s(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, &s[got], n - got);
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  s.resize(got);
  return s;
}

int main() {
  zdtm_init();
  int self[2], shared[2], back[2];
  if (pipe(self) || pipe(shared) || pipe(back)) zdtm_fail("pipe");
  fcntl(self[1], F_SETPIPE_SZ, 1 << 20);
  std::string a = pattern(300000, 1);
  if (write(self[1], a.data(), a.size()) != static_cast<ssize_t>(a.size())) zdtm_fail("write a");
  fcntl(self[0], F_SETFL, O_NONBLOCK);

  pid_t child = fork();
  if (child == 0) {
    close(shared[0]);
    close(back[1]);
    std::string b = pattern(5000, 2);
    if (write(shared[1], b.data(), b.size()) != 5000) _exit(10);
    // Wait for the parent's go, which travels through another pipe, then write more.
    char c;
    if (read(back[0], &c, 1) != 1 || c != 'g') _exit(11);
    if (write(shared[1], "tail", 4) != 4) _exit(12);
    _exit(0);
  }
  close(shared[1]);
  close(back[0]);
  zdtm_ready();
  zdtm_wait();

  if (fcntl(self[1], F_GETPIPE_SZ) != 1 << 20)
    zdtm_fail("pipe size %d", fcntl(self[1], F_GETPIPE_SZ));
  if (!(fcntl(self[0], F_GETFL) & O_NONBLOCK)) zdtm_fail("O_NONBLOCK lost");
  if (drain(self[0], a.size()) != a) zdtm_fail("in-flight bytes of the private pipe differ");
  char extra;
  if (read(self[0], &extra, 1) != -1) zdtm_fail("private pipe has more bytes than written");
  if (drain(shared[0], 5000) != pattern(5000, 2))
    zdtm_fail("in-flight bytes of the shared pipe differ");
  if (write(back[1], "g", 1) != 1) zdtm_fail("write go");
  if (drain(shared[0], 4) != "tail") zdtm_fail("child's later write missing");
  char eof;
  if (read(shared[0], &eof, 1) != 0) zdtm_fail("no EOF after the child exits");
  int st;
  if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    zdtm_fail("child status %d", st);
  zdtm_pass("zdtm_pipe_inflight");
}
