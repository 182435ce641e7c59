// Pseudo-terminals: a pair with changed termios, a window size and packet mode; a child that
// is a session leader with the pty as its controlling terminal and a grandchild's process
// group in the foreground. After the revive the child still has its controlling terminal
// (/dev/tty opens), the foreground group is the same, and bytes flow both ways.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <string>

#include "zdtm.h"

static std::string take(int fd, size_t n) {
  std::string s;
  char buf[256];
  while (s.size() < n) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) break;
    s.append(buf, static_cast<size_t>(r));
  }
  return s;
}

// The child: session leader owning the terminal; exits 0 when every check passes.
static int child(const char* slave_path, int go) {
  setsid();
  int t = open(slave_path, O_RDWR);  // the first terminal a leader opens becomes its own
  if (t < 0) return 10;
  pid_t gc = fork();
  if (gc == 0) {
    setpgid(0, 0);
    pause();
    _exit(0);
  }
  setpgid(gc, gc);
  if (tcsetpgrp(t, gc)) return 11;
  if (write(go, "r", 1) != 1) return 12;
  char c;
  if (read(go, &c, 1) != 1) return 13;  // the parent's word, after the revive
  int rc = 0;
  if (tcgetsid(t) != getpid()) rc = 14;
  else if (tcgetpgrp(t) != gc) rc = 15;
  else if (open("/dev/tty", O_RDWR) < 0) rc = 16;
  struct termios tio;
  tcgetattr(t, &tio);
  if (!rc && (tio.c_lflag & ECHO)) rc = 17;
  struct winsize ws;
  ioctl(t, TIOCGWINSZ, &ws);
  if (!rc && (ws.ws_row != 33 || ws.ws_col != 111)) rc = 18;
  if (!rc && write(t, "hello\n", 6) != 6) rc = 19;
  // Back to the foreground to read (a background reader is stopped by SIGTTIN).
  signal(SIGTTOU, SIG_IGN);
  if (!rc && tcsetpgrp(t, getpid())) rc = 21;
  if (!rc && take(t, 4) != "abc\n") rc = 20;
  kill(gc, SIGKILL);
  waitpid(gc, nullptr, 0);
  return rc;
}

int main() {
  zdtm_init();
  int m = posix_openpt(O_RDWR | O_NOCTTY);
  if (m < 0 || grantpt(m) || unlockpt(m)) zdtm_fail("posix_openpt");
  std::string slave = ptsname(m);
  int s = open(slave.c_str(), O_RDWR | O_NOCTTY);
  struct termios tio;
  tcgetattr(s, &tio);
  tio.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  tcsetattr(s, TCSANOW, &tio);
  struct winsize ws{33, 111, 0, 0};
  ioctl(m, TIOCSWINSZ, &ws);
  int on = 1;
  ioctl(m, TIOCPKT, &on);
  int go[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, go)) zdtm_fail("socketpair");
  pid_t c = fork();
  if (c == 0) {
    close(go[0]);
    _exit(child(slave.c_str(), go[1]));
  }
  close(go[1]);
  char r;
  if (read(go[0], &r, 1) != 1) zdtm_fail("child not ready");
  zdtm_ready();
  zdtm_wait();

  int pkt = 0;
  ioctl(m, TIOCGPKT, &pkt);
  if (!pkt) zdtm_fail("packet mode lost");
  if (write(go[0], "g", 1) != 1) zdtm_fail("tell the child");
  std::string out = take(m, 8);  // packet mode: a TIOCPKT_DATA byte, then "hello\r\n"
  if (out.size() < 8 || out[0] != 0 || out.substr(1) != "hello\r\n")
    zdtm_fail("read %zu bytes from the master, not the child's line", out.size());
  if (write(m, "abc\n", 4) != 4) zdtm_fail("write master");
  int status;
  if (waitpid(c, &status, 0) != c || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    zdtm_fail("child status %d (codes in zdtm_pty.cpp)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  zdtm_pass("zdtm_pty");
}
