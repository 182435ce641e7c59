// An IPv4 socket is not supported yet: the capture must fail naming the fd and what it is,
// and this process must keep running unharmed (the socket still works afterwards).
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtm.h"

int main() {
  zdtm_init();
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) zdtm_fail("socket");
  zdtm_ready();
  zdtm_wait();
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_DGRAM)
    zdtm_fail("socket broken after the refused capture");
  zdtm_pass("zdtm_unsupported_socket");
}
