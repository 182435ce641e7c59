// A socket is not supported yet: the capture must fail naming the fd and what it is, and
// this process must keep running unharmed (the socket pair still works afterwards).
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtm.h"

int main() {
  zdtm_init();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) zdtm_fail("socketpair");
  if (write(sv[0], "ping", 4) != 4) zdtm_fail("write");
  zdtm_ready();
  zdtm_wait();
  char buf[8] = {};
  if (read(sv[1], buf, sizeof buf) != 4 || memcmp(buf, "ping", 4) != 0)
    zdtm_fail("socket data lost");
  zdtm_pass("zdtm_unsupported_socket");
}
