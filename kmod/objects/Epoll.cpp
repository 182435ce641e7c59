// epoll instances: every watched file with its events (EPOLLET, EPOLLONESHOT...) and user
// data. Epoll keys a registration by (file, fd number), so an instance is revived by its
// first holder, which registers its own fds at the recorded numbers.
#include <linux/kcmp.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "base/Error.h"
#include "kmod/ProcFs.h"
#include "kmod/ProcessFill.h"
#include "kmod/objects/ObjectsInternal.h"

namespace deja::kmod {

namespace objects {

EpollState capture_epoll(const FdSite& site, uint64_t id) {
  EpollState e;
  e.id = id;
  for (const std::string& line : fdinfo_lines(site, "tfd:")) {
    EpollTarget t;
    long long pos = 0;
    unsigned long ino = 0;
    unsigned sdev = 0;
    if (std::sscanf(line.c_str(), "tfd: %d events: %" SCNx32 " data: %" SCNx64 " pos:%lli ino:%lx sdev:%x",
                    &t.fd, &t.events, &t.data, &pos, &ino, &sdev) != 6)
      throw Error(site.what() + ": cannot parse its fdinfo line \"" + line + "\"");
    t.inode = ino;
    // The registration must still be reachable as the same file at the same fd number in
    // this process, as it is re-registered from there.
    kcmp_epoll_slot slot{static_cast<uint32_t>(site.fd), static_cast<uint32_t>(t.fd), 0};
    long same = ::syscall(SYS_kcmp, site.pid.value, site.pid.value, KCMP_EPOLL_TFD, t.fd, &slot);
    if (same != 0)
      throw Error(site.what() + " watches a file that is no longer open at fd " +
                  std::to_string(t.fd) + " of this process (closed, moved or in another "
                  "process), not supported yet");
    std::string watched = procfs::read_link(procfs::fd_path(site.pid, t.fd));
    if (watched == "anon_inode:[eventpoll]")
      throw Error(site.what() + " watches another epoll instance (fd " + std::to_string(t.fd) +
                  "), not supported yet");
    e.targets.push_back(t);
  }
  return e;
}

}  // namespace objects

void ObjectRevive::create_epoll(ProcessFill& p, const EpollState& e) {
  RemoteSyscalls& rs = p.syscalls();
  int fd = objects::park(p, rs.call(SYS_epoll_create1, EPOLL_CLOEXEC), min_fd_, "epoll_create1");
  held_[{FdKind::kEpoll, e.id}] = {p.vpid(), fd};
  for (const EpollTarget& t : e.targets) {
    epoll_event ev{};
    ev.events = t.events;
    ev.data.u64 = t.data;
    RemotePtr a = p.put_struct(std::string_view(reinterpret_cast<const char*>(&ev), sizeof ev));
    long r = rs.call(SYS_epoll_ctl, static_cast<uint64_t>(fd), EPOLL_CTL_ADD,
                     static_cast<uint64_t>(t.fd), a.addr);
    if (r < 0)
      throw SysError("epoll_ctl(EPOLL_CTL_ADD) of fd " + std::to_string(t.fd), p.name(),
                     static_cast<int>(-r));
  }
}

}  // namespace deja::kmod
