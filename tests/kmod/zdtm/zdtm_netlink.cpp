// A netlink socket (as dbus-daemon keeps for audit): a NETLINK_ROUTE socket in the link
// multicast group. After the revive it is a netlink socket of the same protocol in the same
// groups, and it works: a link dump request is answered.
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtm.h"

int main() {
  zdtm_init();
  int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  sockaddr_nl a{};
  a.nl_family = AF_NETLINK;
  a.nl_groups = RTMGRP_LINK;
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a)) zdtm_fail("netlink socket");
  zdtm_ready();
  zdtm_wait();

  int protocol = -1;
  socklen_t len = sizeof protocol;
  if (getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) || protocol != NETLINK_ROUTE)
    zdtm_fail("protocol %d, not NETLINK_ROUTE", protocol);
  sockaddr_nl got{};
  len = sizeof got;
  if (getsockname(s, reinterpret_cast<sockaddr*>(&got), &len) || got.nl_groups != RTMGRP_LINK)
    zdtm_fail("groups %x, not RTMGRP_LINK", got.nl_groups);
  struct {
    nlmsghdr h;
    rtgenmsg g;
  } req{};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = RTM_GETLINK;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.g.rtgen_family = AF_UNSPEC;
  if (send(s, &req, sizeof req, 0) != sizeof req) zdtm_fail("send a link dump request");
  char buf[16384];
  ssize_t n = recv(s, buf, sizeof buf, 0);
  if (n <= 0 || reinterpret_cast<nlmsghdr*>(buf)->nlmsg_type != RTM_NEWLINK)
    zdtm_fail("no link in the answer");
  zdtm_pass("zdtm_netlink");
}
