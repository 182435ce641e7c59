// Bytes in flight in a pseudo-terminal, both ways: a line the slave's side wrote that the
// master has not read (output processing turned "\n" into "\r\n" once, and must not again),
// and keys typed into the master that the slave's side, in non-canonical mode, has not read
// (input processing turned "\r" into "\n" once). After the revive each side reads exactly
// those bytes, then the terminal goes on both ways.
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <string>

#include "zdtm.h"

static std::string read_now(int fd, size_t n) {
  std::string s;
  char buf[256];
  while (s.size() < n) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) break;
    ssize_t r = read(fd, buf, std::min(sizeof buf, n - s.size()));
    if (r <= 0) break;
    s.append(buf, static_cast<size_t>(r));
  }
  return s;
}

static void expect_nothing_more(int fd, const char* side) {
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, 200) != 0) zdtm_fail("the %s has more bytes than were in flight", side);
}

int main() {
  zdtm_init();
  int m = posix_openpt(O_RDWR | O_NOCTTY);
  if (m < 0 || grantpt(m) || unlockpt(m)) zdtm_fail("posix_openpt");
  int s = open(ptsname(m), O_RDWR | O_NOCTTY);
  if (s < 0) zdtm_fail("open slave");
  struct termios tio;
  tcgetattr(s, &tio);
  tio.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
  tio.c_iflag |= ICRNL;
  tio.c_oflag |= OPOST | ONLCR;
  tio.c_cc[VMIN] = 1;
  tio.c_cc[VTIME] = 0;
  tcsetattr(s, TCSANOW, &tio);
  if (write(s, "out-line\n", 9) != 9) zdtm_fail("write slave");
  if (write(m, "typed\r", 6) != 6) zdtm_fail("write master");
  usleep(100000);  // both lines reach the other side's line discipline
  zdtm_ready();
  zdtm_wait();

  std::string out = read_now(m, 10), in = read_now(s, 6);
  if (out != "out-line\r\n") zdtm_fail("the master read \"%s\" (%zu bytes)", out.c_str(), out.size());
  if (in != "typed\n") zdtm_fail("the slave read \"%s\" (%zu bytes)", in.c_str(), in.size());
  expect_nothing_more(m, "master");
  expect_nothing_more(s, "slave");
  tcgetattr(s, &tio);
  if (tio.c_lflag & (ICANON | ECHO) || !(tio.c_iflag & ICRNL) || !(tio.c_oflag & ONLCR))
    zdtm_fail("termios changed");
  if (write(s, "more\n", 5) != 5 || read_now(m, 6) != "more\r\n") zdtm_fail("slave to master after");
  if (write(m, "x\r", 2) != 2 || read_now(s, 2) != "x\n") zdtm_fail("master to slave after");
  zdtm_pass("zdtm_pty_inflight");
}
