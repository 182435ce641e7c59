// Pseudo-terminals of the session's devpts instance: each pair at its index, with the
// slave's termios and window size, packet mode, lock and exclusive mode; the controlling
// terminal of session leaders and the foreground process group; bytes in flight both ways.
// A terminal has no way to peek: bytes are read out and written straight back, with the
// line discipline's processing turned off while they go back, so they return unchanged.
#include <asm/termbits.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cstring>

#include "base/Error.h"
#include "kmod/ProcFs.h"
#include "kmod/ProcessFill.h"
#include "kmod/objects/ObjectsInternal.h"

namespace deja::kmod {

namespace {

constexpr unsigned kPtySlaveMajor = 136;  // UNIX98_PTY_SLAVE_MAJOR
constexpr int kFullDiscipline = 4095;      // the most a line discipline holds for reading
// Bytes in flight go back in writes of at most this: the kernel buffers a pty's bytes more
// tightly for small writes than for large ones. Measured here: 20,480 bytes written one at a
// time fill a pty that then takes back 13,824 in 64 KiB writes and 20,480 in 1 KiB ones; the
// rest was lost to the session's terminal.
constexpr size_t kPutBackChunk = 1024;

template <class T>
T get_ioctl(int fd, unsigned long request, const char* name, const std::string& what) {
  T v{};
  if (::ioctl(fd, request, &v) < 0) throw_errno(std::string("ioctl(") + name + ")", what);
  return v;
}

// The pty must belong to the session's own devpts instance (the one at its /dev/pts), not
// to another (the host's): only that one is made anew with the branch.
void check_instance(const FdSite& site) {
  std::string fd_link = procfs::fd_path(site.pid, site.fd);
  std::string ptmx = procfs::path(site.pid, "root/dev/pts/ptmx");
  struct stat a, b;
  if (::stat(fd_link.c_str(), &a) < 0) throw_errno("stat", fd_link);
  if (::stat(ptmx.c_str(), &b) < 0) throw_errno("stat", ptmx);
  if (a.st_dev != b.st_dev)
    throw Error(site.what() + " is a terminal of another devpts instance than the session's, "
                "not supported");
}

std::string raw(const void* p, size_t n) {
  return std::string(static_cast<const char*>(p), n);
}

// The slave of the pty whose master is `master`: a new open file, so its flags are ours.
ScopedFd open_peer(int master, const std::string& what) {
  ScopedFd slave(::ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
  if (!slave) throw_errno("ioctl(TIOCGPTPEER)", what);
  return slave;
}

// Everything the line discipline behind `fd` holds for reading, read out. A full line
// discipline (4095 bytes) may have more waiting in the kernel's buffer in front of it, which
// a kernel worker moves on once there is room: wait for that a little.
std::string read_queued(int fd, const std::string& what) {
  std::string out;
  int last = 0;
  for (int waits = 0;;) {
    int n = get_ioctl<int>(fd, FIONREAD, "FIONREAD", what);
    if (n <= 0 && last >= kFullDiscipline && waits++ < 20) {
      ::usleep(1000);
      continue;
    }
    if (n <= 0) return out;
    last = n;
    waits = 0;
    size_t at = out.size();
    out.resize(at + static_cast<size_t>(n));
    ssize_t got = ::read(fd, out.data() + at, static_cast<size_t>(n));
    if (got < 0) throw_errno("read (bytes in flight)", what);
    out.resize(at + static_cast<size_t>(got));
  }
}

// Writes `data` into the pty through `writer` (the slave, toward the master, or the master,
// toward the slave) with the slave's processing in that direction turned off, then puts the
// slave's settings back. Termios ioctls on either end act on the slave's settings.
void write_unprocessed(int writer, std::string_view data, bool toward_master, const std::string& what) {
  if (data.empty()) return;
  termios2 saved = get_ioctl<termios2>(writer, TCGETS2, "TCGETS2", what);
  termios2 plain = saved;
  if (toward_master) {
    plain.c_oflag &= ~static_cast<tcflag_t>(OPOST);
  } else {
    plain.c_iflag = 0;
    plain.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL | ISIG | IEXTEN);
  }
  if (::ioctl(writer, TCSETS2, &plain) < 0) throw_errno("ioctl(TCSETS2)", what);
  std::string failure;
  // A full pty frees room as a kernel worker moves its buffer on to the reading side's line
  // discipline, without waking a writer on this side: look again every millisecond (for a
  // second without progress) rather than wait for poll to say so.
  for (int idle_ms = 0; !data.empty();) {
    ssize_t n = ::write(writer, data.data(), std::min(data.size(), kPutBackChunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN && idle_ms++ < 1000) {
      pollfd room{writer, POLLOUT, 0};
      ::poll(&room, 1, 1);
      continue;
    }
    if (n <= 0) {
      failure = std::string("write (bytes in flight): ") + std::strerror(errno);
      break;
    }
    idle_ms = 0;
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (::ioctl(writer, TCSETS2, &saved) < 0) throw_errno("ioctl(TCSETS2)", what);
  if (!failure.empty()) throw Error(what + ": " + failure);
}

// Waits (a second at most) until the line discipline behind `fd` holds `bytes` (or is full).
void wait_readable(int fd, size_t bytes, const std::string& what) {
  size_t want = std::min<size_t>(bytes, kFullDiscipline);
  for (int i = 0; i < 1000 && static_cast<size_t>(get_ioctl<int>(fd, FIONREAD, "FIONREAD", what)) < want; ++i)
    ::usleep(1000);
}

// Reads the bytes in flight of the frozen pty behind `master` and puts them straight back.
// Only for a pty whose slave some process holds: opening and closing the only slave would
// leave the master reading as hung up.
void capture_in_flight(int master, TtyState& t, const std::string& what) {
  if (t.packet_mode || t.locked) return;  // a packet-mode master reads status bytes too: not kept
  termios2 tio;
  std::memcpy(&tio, t.termios.data(), sizeof tio);
  ScopedFd slave = open_peer(master, what);
  t.to_master = read_queued(master, what);
  write_unprocessed(slave.get(), t.to_master, true, what);
  if (tio.c_lflag & ICANON) return;  // a line being typed cannot be read out
  t.to_slave = read_queued(slave.get(), what);
  write_unprocessed(master, t.to_slave, false, what);
}

}  // namespace

namespace objects {

uint32_t pty_index(const FdSite& site) {
  check_instance(site);
  ScopedFd copy = copy_fd(site.pid, site.fd, site.what());
  return get_ioctl<unsigned>(copy.get(), TIOCGPTN, "TIOCGPTN", site.what());
}

uint32_t slave_index(const FdSite& site) {
  check_instance(site);
  const char* digits = site.target.c_str() + std::strlen("/dev/pts/");
  char* end = nullptr;
  unsigned long index = std::strtoul(digits, &end, 10);
  if (end == digits || *end) throw Error(site.what() + " is not a pseudo-terminal slave");
  return static_cast<uint32_t>(index);
}

void open_slave(ProcessFill& p, const FdState& f) {
  uint32_t flags = (f.flags & ~static_cast<uint32_t>(O_CREAT | O_EXCL | O_TRUNC)) | O_NOCTTY |
                   (f.cloexec ? O_CLOEXEC : 0);
  std::string path = "/dev/pts/" + std::to_string(f.object_id - 1);
  RemotePtr at = p.put_path(path);
  p.place_fd(p.syscalls().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), at.addr, flags), f.fd,
             "fd " + std::to_string(f.fd) + " of " + p.name() + " (" + path + ")");
}

}  // namespace objects

void ObjectCapture::capture_tty(const FdSite& site, FdState& f, bool master, uint32_t index) {
  f.kind = master ? FdKind::kPtyMaster : FdKind::kPtySlave;
  f.object_id = index + 1;
  tty_users_.emplace(index, site.what());
  if (!master) return;
  for (const TtyState& t : tree_.ttys)
    if (t.index == index) return;
  ScopedFd m = copy_fd(site.pid, site.fd, site.what());
  TtyState t;
  t.id = index + 1;
  t.index = index;
  // Terminal ioctls on a master act on its slave's settings.
  termios2 tio = get_ioctl<termios2>(m.get(), TCGETS2, "TCGETS2", site.what());
  t.termios = raw(&tio, sizeof tio);
  winsize ws = get_ioctl<winsize>(m.get(), TIOCGWINSZ, "TIOCGWINSZ", site.what());
  t.winsize = raw(&ws, sizeof ws);
  t.packet_mode = static_cast<uint32_t>(get_ioctl<int>(m.get(), TIOCGPKT, "TIOCGPKT", site.what()));
  t.locked = static_cast<uint32_t>(get_ioctl<int>(m.get(), TIOCGPTLCK, "TIOCGPTLCK", site.what()));
  t.exclusive = static_cast<uint32_t>(get_ioctl<int>(m.get(), TIOCGEXCL, "TIOCGEXCL", site.what()));
  pid_t pgrp = get_ioctl<pid_t>(m.get(), TIOCGPGRP, "TIOCGPGRP", site.what());
  t.fg_pgrp = to_vpid(pgrp).value;
  pid_t sid = 0;
  if (::ioctl(m.get(), TIOCGSID, &sid) == 0) t.session = to_vpid(sid).value;
  else if (errno != ENOTTY) throw_errno("ioctl(TIOCGSID)", site.what());
  tty_masters_.emplace(index, site);
  tree_.ttys.push_back(std::move(t));
}

uint64_t ObjectCapture::controlling_tty(const std::string& process, uint64_t tty_nr) {
  if (tty_nr == 0) return 0;
  unsigned major = static_cast<unsigned>((tty_nr >> 8) & 0xfff);
  unsigned minor = static_cast<unsigned>((tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00));
  if (major != kPtySlaveMajor)
    throw Error(process + " has a controlling terminal (device " + std::to_string(major) + ":" +
                std::to_string(minor) + ") that is not a pseudo-terminal of the session, not "
                "supported yet");
  tty_users_.emplace(minor, process + " (its controlling terminal)");
  return minor + 1;
}

void ObjectCapture::finish() {
  resolve_in_flight();
  finish_sockets();
  for (TtyState& t : tree_.ttys) {
    bool slave_held = std::any_of(tree_.processes.begin(), tree_.processes.end(), [&](const ProcessState& p) {
      return p.ctty == t.id || std::any_of(p.fds.begin(), p.fds.end(), [&](const FdState& f) {
               return f.kind == FdKind::kPtySlave && f.object_id == t.id;
             });
    });
    if (!slave_held) continue;
    const FdSite& site = tty_masters_.at(t.index);
    ScopedFd m = copy_fd(site.pid, site.fd, site.what());
    capture_in_flight(m.get(), t, site.what());
  }
  for (const auto& [index, user] : tty_users_) {
    bool held = std::any_of(tree_.ttys.begin(), tree_.ttys.end(),
                            [&](const TtyState& t) { return t.index == index; });
    if (!held)
      throw Error(user + ": pseudo-terminal " + std::to_string(index) +
                  " has its master outside the session, not supported");
  }
}

void ObjectRevive::create_ttys() {
  if (tree_.ttys.empty()) return;
  // A new devpts instance hands out the lowest free index: open masters in index order,
  // with spares for the gaps, closed at the end.
  uint32_t last = 0;
  for (const TtyState& t : tree_.ttys) last = std::max(last, t.index);
  ProcessFill& spare_holder = holder_of(FdKind::kPtyMaster, tree_.ttys.front().id);
  for (uint32_t index = 0; index <= last; ++index) {
    auto t = std::find_if(tree_.ttys.begin(), tree_.ttys.end(),
                          [&](const TtyState& x) { return x.index == index; });
    ProcessFill& h = t == tree_.ttys.end() ? spare_holder : holder_of(FdKind::kPtyMaster, t->id);
    RemotePtr path = h.put_path("/dev/ptmx");
    long fd = h.syscalls().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), path.addr,
                                O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    Held held{h.vpid(), objects::park(h, fd, min_fd_, "open /dev/ptmx")};
    std::string what = "pseudo-terminal " + std::to_string(index) + " of the branch";
    ScopedFd copy = copy_of(held, what);
    unsigned got = get_ioctl<unsigned>(copy.get(), TIOCGPTN, "TIOCGPTN", what);
    if (got != index)
      throw Error("revive: the branch's devpts gave pseudo-terminal " + std::to_string(got) +
                  " where the image needs " + std::to_string(index));
    if (t == tree_.ttys.end()) {
      spare_ptys_.push_back(held);
      continue;
    }
    held_[{FdKind::kPtyMaster, t->id}] = held;
    configure_tty(*t, held);
  }
}

void ObjectRevive::configure_tty(const TtyState& t, const Held& master) {
  std::string what = "pseudo-terminal " + std::to_string(t.index) + " of the branch";
  ScopedFd m = copy_of(master, what);
  int zero = 0, one = 1;
  if (::ioctl(m.get(), TIOCSPTLCK, &zero) < 0) throw_errno("ioctl(TIOCSPTLCK)", what);
  std::string slave_path =
      procfs::path(fills_.at(master.holder)->host(), "root/dev/pts/" + std::to_string(t.index));
  ScopedFd slave(::open(slave_path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
  if (!slave) throw_errno("open", slave_path);
  if (t.termios.size() == sizeof(termios2) && ::ioctl(slave.get(), TCSETS2, t.termios.data()) < 0)
    throw_errno("ioctl(TCSETS2)", what);
  if (t.winsize.size() == sizeof(winsize) && ::ioctl(slave.get(), TIOCSWINSZ, t.winsize.data()) < 0)
    throw_errno("ioctl(TIOCSWINSZ)", what);
  write_unprocessed(slave.get(), t.to_master, true, what);
  write_unprocessed(m.get(), t.to_slave, false, what);
  // A kernel worker moves written bytes on to the reading side; a checkpoint taken before it
  // ran would not see them, so the branch starts once they are there.
  wait_readable(m.get(), t.to_master.size(), what);
  wait_readable(slave.get(), t.to_slave.size(), what);
  if (t.packet_mode && ::ioctl(m.get(), TIOCPKT, &one) < 0) throw_errno("ioctl(TIOCPKT)", what);
  if (t.exclusive && ::ioctl(slave.get(), TIOCEXCL) < 0) throw_errno("ioctl(TIOCEXCL)", what);
  if (t.locked && ::ioctl(m.get(), TIOCSPTLCK, &one) < 0) throw_errno("ioctl(TIOCSPTLCK)", what);
}

void ObjectRevive::set_controlling_tty(ProcessFill& p, const ProcessState& image) {
  if (!image.ctty) return;
  auto t = std::find_if(tree_.ttys.begin(), tree_.ttys.end(),
                        [&](const TtyState& x) { return x.id == image.ctty; });
  if (t == tree_.ttys.end())
    throw Error("revive: image lacks the controlling terminal of " + p.name());
  RemoteSyscalls& rs = p.syscalls();
  RemotePtr path = p.put_path("/dev/pts/" + std::to_string(t->index));
  long fd = rs.call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), path.addr,
                    O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw SysError("open its controlling terminal", p.name(), static_cast<int>(-fd));
  long r = rs.call(SYS_ioctl, static_cast<uint64_t>(fd), TIOCSCTTY, 0);
  if (r >= 0 && t->session == image.pid.value && t->fg_pgrp) {
    RemotePtr pgrp = p.put_struct(std::string_view(reinterpret_cast<const char*>(&t->fg_pgrp), 4));
    r = rs.call(SYS_ioctl, static_cast<uint64_t>(fd), TIOCSPGRP, pgrp.addr);
  }
  rs.call(SYS_close, static_cast<uint64_t>(fd));
  if (r < 0) throw SysError("ioctl(TIOCSCTTY/TIOCSPGRP)", p.name(), static_cast<int>(-r));
}

}  // namespace deja::kmod
