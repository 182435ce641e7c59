// Reading a unix socket's messages with what travels beside their bytes, for the zdtm
// programs on credentials and descriptors in flight.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

#include "zdtm.h"

/// One message: its bytes ("<none>" when nothing is queued), its sender's credentials (pid -1
/// when none came with it) and the descriptors it brought, in order.
struct ZdtmMessage {
  std::string bytes;
  ucred from{-1, static_cast<uid_t>(-1), static_cast<gid_t>(-1)};
  std::vector<int> fds;
};

static inline ZdtmMessage zdtm_receive(int sock) {
  ZdtmMessage out;
  char buf[256];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 8)];
  iovec iov{buf, sizeof buf};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  ssize_t n = recvmsg(sock, &m, MSG_DONTWAIT);
  if (n < 0) {
    out.bytes = "<none>";
    return out;
  }
  out.bytes.assign(buf, static_cast<size_t>(n));
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_CREDENTIALS) memcpy(&out.from, CMSG_DATA(c), sizeof out.from);
    if (c->cmsg_type == SCM_RIGHTS)
      for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
        out.fds.push_back(fd);
      }
  }
  return out;
}
