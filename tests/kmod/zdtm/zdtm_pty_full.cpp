// A pseudo-terminal full of output nobody has read, written a byte at a time (as a program
// printing character by character does): the kernel then holds more than one large write
// takes back, so the capture must put the bytes back in small writes. Both the original and
// the revived copy must read every byte, in order, and nothing more.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <string>

#include "zdtm.h"

static char byte_at(size_t i) { return static_cast<char>('a' + i % 26); }

int main() {
  zdtm_init();
  int m = posix_openpt(O_RDWR | O_NOCTTY);
  if (m < 0 || grantpt(m) || unlockpt(m)) zdtm_fail("posix_openpt");
  int s = open(ptsname(m), O_RDWR | O_NOCTTY | O_NONBLOCK);
  if (s < 0) zdtm_fail("open slave");
  struct termios tio;
  tcgetattr(s, &tio);
  cfmakeraw(&tio);
  tcsetattr(s, TCSANOW, &tio);
  // Until the pty takes no more, a moment after it first refuses (the kernel moves bytes on
  // to the master's line discipline meanwhile).
  size_t written = 0;
  for (int refused = 0; refused < 2;) {
    char c = byte_at(written);
    if (write(s, &c, 1) == 1) {
      ++written;
      refused = 0;
    } else if (errno == EAGAIN) {
      ++refused;
      usleep(20000);
    } else {
      zdtm_fail("write slave");
    }
  }
  zdtm_ready();
  zdtm_wait();

  std::string got;
  char buf[4096];
  for (;;) {
    struct pollfd p = {m, POLLIN, 0};
    if (poll(&p, 1, got.size() < written ? 5000 : 200) != 1) break;
    ssize_t r = read(m, buf, sizeof buf);
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
  }
  if (got.size() != written)
    zdtm_fail("the master read %zu bytes of the %zu in flight", got.size(), written);
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != byte_at(i)) zdtm_fail("byte %zu in flight came back wrong", i);
  zdtm_pass("zdtm_pty_full");
}
