// Fds open on regular files, directories and the harmless character devices (/dev/null,
// zero, full, random, urandom): reopened by path at their offset.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

#include "base/Error.h"
#include "kmod/ProcFs.h"
#include "kmod/objects/Objects.h"
#include "kmod/objects/ObjectsInternal.h"

namespace deja::kmod {

void refuse_program_served_file(const CaptureContext& c, const std::string& what,
                                const std::string& target, const std::string& fstype) {
  if (!procfs::served_by_a_program(fstype)) return;
  throw Error(c.name() + ": " + what + " (" + target + ") is on a FUSE file system (" + fstype +
              "), not supported yet: asking its server while the session is held could hold "
              "the session for good");
}

std::string fd_fs_type(const CaptureContext& c, const std::string& fdinfo) {
  int mnt_id = std::atoi(objects::fdinfo_value(fdinfo, "mnt_id:").c_str());
  auto it = c.mounts->by_id.find(mnt_id);
  return it == c.mounts->by_id.end() ? std::string() : it->second;
}

std::shared_ptr<const procfs::MountTypes> MountTypesCache::get(HostPid pid) {
  uint64_t ns = procfs::mount_namespace(pid);
  std::lock_guard lock(mu_);
  Namespace& n = by_namespace_[ns];
  n.asked = true;
  std::string path = procfs::path(pid, "mountinfo");
  if (!n.mountinfo) {
    // Opened before the read: a mount made after it polls as a change.
    n.mountinfo.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!n.mountinfo) throw_errno("open", path);
  } else {
    pollfd p{n.mountinfo.get(), POLLPRI, 0};
    if (::poll(&p, 1, 0) < 0) throw_errno("poll", path);
    if (!(p.revents & (POLLPRI | POLLERR)) && n.types) return n.types;
  }
  n.types.reset();
  if (::lseek(n.mountinfo.get(), 0, SEEK_SET) < 0) throw_errno("lseek", path);
  std::string text;
  char buf[16384];
  ssize_t got;
  while ((got = ::read(n.mountinfo.get(), buf, sizeof buf)) > 0)
    text.append(buf, static_cast<size_t>(got));
  if (got < 0) throw_errno("read", path);
  n.types = std::make_shared<const procfs::MountTypes>(procfs::parse_mount_types(text, path));
  return n.types;
}

void MountTypesCache::next_capture() {
  std::lock_guard lock(mu_);
  forget_unasked(by_namespace_);
}

void capture_path_fd(CaptureContext& c, FdState& f, const std::string& target, TreeState& tree) {
  std::string link_path = procfs::fd_path(c.pid, f.fd);
  struct stat sb;
  if (::stat(link_path.c_str(), &sb) < 0) throw_errno("stat", link_path);
  if (S_ISFIFO(sb.st_mode)) {
    capture_fifo_fd(c, f, target, sb.st_ino, tree);
    return;
  }
  // A POSIX message queue's fd names "/NAME" and looks like a regular file (a device, such
  // as a session's many /dev/null fds, is not asked).
  if ((S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode)) && is_mqueue(link_path))
    return capture_mqueue_fd(c, f, target, tree);
  bool dev_ok = S_ISCHR(sb.st_mode) &&
                (target == "/dev/null" || target == "/dev/zero" || target == "/dev/urandom" ||
                 target == "/dev/random" || target == "/dev/full" || target == "/dev/tty");
  if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode) && !dev_ok) {
    const char* kind = S_ISCHR(sb.st_mode)   ? "a character device (tty, pty, ...)"
                       : S_ISBLK(sb.st_mode) ? "a block device"
                                             : "a special file";
    throw Error(c.name() + ": fd " + std::to_string(f.fd) + " (" + target + ") is " + kind +
                ", not supported yet");
  }
  f.kind = FdKind::kFile;
  f.path = c.relative(target, "fd " + std::to_string(f.fd));
}

void close_skeleton_fds(FillContext& c) {
  // The skeleton's fds go before any fd of the image (or a holder's) is made here.
  for (int fd : procfs::fds(c.host)) c.leader().call(SYS_close, static_cast<uint64_t>(fd));
}

void restore_file_fd(FillContext& c, const FdState& f, uint32_t flags) {
  RemotePtr p = c.put_string(kScratchPath, f.path);
  c.place_fd(c.leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), p.addr, flags), f.fd,
             "fd " + std::to_string(f.fd) + " of " + c.name() + " (" + f.path + ")");
  struct stat sb;
  std::string link = procfs::fd_path(c.host, f.fd);
  if (::stat(link.c_str(), &sb) < 0) throw_errno("stat", link);
  if (S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode))
    c.leader().check("lseek", SYS_lseek, static_cast<uint64_t>(f.fd), f.pos, SEEK_SET);
}

}  // namespace deja::kmod
