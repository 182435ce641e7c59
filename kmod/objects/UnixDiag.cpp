#include "kmod/objects/UnixDiag.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/unix_diag.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "base/Error.h"
#include "kmod/ProcFs.h"

namespace deja::kmod {

namespace {

ScopedFd namespace_of(int sock_fd) {
  ScopedFd ns(::ioctl(sock_fd, SIOCGSKNS));
  if (!ns) throw_errno("ioctl(SIOCGSKNS)", "a captured socket");
  return ns;
}

uint64_t inode_of(int fd) {
  struct stat sb;
  if (::fstat(fd, &sb) < 0) throw_errno("fstat", "network namespace");
  return sb.st_ino;
}

// A sock_diag socket must be made inside the namespace it reports on: a thread of ours
// enters it (setns moves only the calling thread), makes the socket and ends.
ScopedFd diag_socket_in(int netns) {
  int fd = -1, err = 0;
  std::thread t([&] {
    if (::setns(netns, CLONE_NEWNET) < 0) {
      err = errno;
      return;
    }
    fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) err = errno;
  });
  t.join();
  if (fd < 0) throw_errno(err == 0 ? "socket(NETLINK_SOCK_DIAG)" : "setns(CLONE_NEWNET)",
                          "the session's network namespace", err);
  return ScopedFd(fd);
}

// The last namespace's sock_diag socket, kept from one capture to the next: making one
// takes a thread of ours scheduled into the namespace, which on a busy machine costs
// milliseconds of a checkpoint's downtime. Holding it keeps that namespace (and so its
// inode number) alive. A dump's messages carry its sequence number, so whatever an abandoned
// dump left queued is skipped.
int cached_diag_socket(int netns, uint64_t netns_inode) {
  static std::mutex mu;
  static uint64_t inode = 0;
  static ScopedFd sock;
  std::lock_guard lock(mu);
  if (!sock || inode != netns_inode) {
    sock = diag_socket_in(netns);
    inode = netns_inode;
  }
  int fd = ::fcntl(sock.get(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw_errno("fcntl(F_DUPFD_CLOEXEC)", "the sock_diag socket");
  return fd;
}

}  // namespace

UnixDiag::UnixDiag(pid_t pid) {
  std::string path = procfs::path(HostPid{pid}, "ns/net");
  ScopedFd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) throw_errno("open", path);
  netns_inode_ = inode_of(ns.get());
  netlink_ = ScopedFd(cached_diag_socket(ns.get(), netns_inode_));
}

bool UnixDiag::same_namespace(int sock_fd) const {
  return inode_of(namespace_of(sock_fd).get()) == netns_inode_;
}

const UnixDiag::Entry* UnixDiag::find(uint64_t inode) {
  if (!dumped_) dump();
  auto it = entries_.find(inode);
  return it == entries_.end() ? nullptr : &it->second;
}

void UnixDiag::dump() {
  struct {
    nlmsghdr nlh;
    unix_diag_req req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  static std::atomic<uint32_t> last_seq{0};
  uint32_t seq = ++last_seq;
  msg.nlh.nlmsg_seq = seq;
  msg.req.sdiag_family = AF_UNIX;
  msg.req.udiag_states = ~0u;
  msg.req.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN;
  if (::send(netlink_.get(), &msg, sizeof msg, 0) < 0) throw_errno("send", "sock_diag request");
  std::vector<char> buf(64 << 10);
  for (;;) {
    ssize_t n = ::recv(netlink_.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("recv", "sock_diag answer");
    auto* h = reinterpret_cast<nlmsghdr*>(buf.data());
    for (int left = static_cast<int>(n); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != seq) continue;  // left over from an earlier, abandoned dump
      if (h->nlmsg_type == NLMSG_DONE) {
        dumped_ = true;
        return;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        throw_errno("sock_diag", "unix sockets of the session", -e->error);
      }
      auto* m = static_cast<unix_diag_msg*>(NLMSG_DATA(h));
      Entry e;
      e.inode = m->udiag_ino;
      e.type = m->udiag_type;
      e.state = m->udiag_state;
      int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
      for (auto* a = reinterpret_cast<rtattr*>(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        const char* d = static_cast<const char*>(RTA_DATA(a));
        size_t dl = RTA_PAYLOAD(a);
        uint32_t v = 0;
        switch (a->rta_type) {
          case UNIX_DIAG_NAME:
            e.name.assign(d, dl);
            break;
          case UNIX_DIAG_PEER:
            std::memcpy(&v, d, sizeof v);
            e.peer = v;
            break;
          case UNIX_DIAG_ICONS:
            for (size_t i = 0; i + 4 <= dl; i += 4) {
              std::memcpy(&v, d + i, 4);
              e.pending.push_back(v);
            }
            break;
          case UNIX_DIAG_RQLEN: {
            unix_diag_rqlen q;
            std::memcpy(&q, d, sizeof q);
            e.rqueue = q.udiag_rqueue;
            e.wqueue = q.udiag_wqueue;
            break;
          }
          case UNIX_DIAG_SHUTDOWN:
            e.shutdown = static_cast<uint8_t>(*d);
            break;
        }
      }
      entries_[e.inode] = std::move(e);
    }
  }
}

}  // namespace deja::kmod
