// A TCP listener with a connection the program has not accepted yet is not supported: the
// capture must fail naming the fd and what it is, and this process must keep running
// unharmed (the connection is still there to accept afterwards, and carries bytes).
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtm.h"

int main() {
  zdtm_init();
  zdtm_loopback_up();
  int l = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(l, reinterpret_cast<sockaddr*>(&a), len) < 0 || listen(l, 4) < 0 ||
      getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) < 0)
    zdtm_fail("listener");
  int c = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(c, reinterpret_cast<sockaddr*>(&a), len) < 0) zdtm_fail("connect");
  zdtm_ready();
  zdtm_wait();
  int got = accept(l, nullptr, nullptr);
  if (got < 0 || write(c, "x", 1) != 1) zdtm_fail("the connection is broken after the refused capture");
  pollfd p{got, POLLIN, 0};
  char b;
  if (poll(&p, 1, 5000) != 1 || read(got, &b, 1) != 1 || b != 'x') zdtm_fail("no byte arrived");
  zdtm_pass("zdtm_unsupported_socket");
}
