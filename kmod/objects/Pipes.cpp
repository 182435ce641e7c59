// Pipes and named FIFOs, with their bytes in flight, kept once per tree: copied without
// being consumed at capture; at revive created in the first process holding an end (its
// "holder") and opened from there by every process through /proc.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "kmod/ProcFs.h"
#include "kmod/objects/Objects.h"

namespace deja::kmod {

namespace {

std::string fd_name(const CaptureContext& c, int fd) {
  return c.name() + ": fd " + std::to_string(fd);
}

bool known(const TreeState& tree, uint64_t id) {
  for (const PipeState& ps : tree.pipes)
    if (ps.id == id) return true;
  return false;
}

}  // namespace

PipeState pipe_state(HostPid pid, int fd, uint64_t id, const std::string& what) {
  // Open the pipe anew through /proc and tee() its buffer into a private pipe: the bytes are
  // copied without being consumed, and nothing runs inside the frozen process.
  std::string link = procfs::fd_path(pid, fd);
  ScopedFd peer(::open(link.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!peer) throw_errno("open", link);
  PipeState ps;
  ps.id = id;
  int size = ::fcntl(peer.get(), F_GETPIPE_SZ);
  if (size < 0) throw_errno("fcntl(F_GETPIPE_SZ)", link);
  ps.size = static_cast<uint64_t>(size);
  int queued = 0;
  if (::ioctl(peer.get(), FIONREAD, &queued) < 0) throw_errno("ioctl(FIONREAD)", link);
  if (queued == 0) return ps;
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) throw_errno("pipe2", "capture buffer");
  ScopedFd r(p[0]), w(p[1]);
  if (::fcntl(w.get(), F_SETPIPE_SZ, size) < size)
    throw_errno("fcntl(F_SETPIPE_SZ)", "capture buffer");
  ssize_t n = ::tee(peer.get(), w.get(), static_cast<size_t>(queued), SPLICE_F_NONBLOCK);
  if (n < 0) throw_errno("tee", link);
  if (n != queued)
    throw Error(what + ": copied " + std::to_string(n) + " of the " + std::to_string(queued) +
                " bytes in flight in its pipe");
  ps.data.resize(static_cast<size_t>(n));
  if (::read(r.get(), ps.data.data(), ps.data.size()) != n) throw_errno("read", "capture buffer");
  return ps;
}

void fill_pipe(int write_fd, const PipeState& p, const std::string& what) {
  if (p.size && ::fcntl(write_fd, F_SETPIPE_SZ, static_cast<int>(p.size)) < 0)
    throw_errno("fcntl(F_SETPIPE_SZ)", what);
  size_t done = 0;
  while (done < p.data.size()) {
    ssize_t n = ::write(write_fd, p.data.data() + done, p.data.size() - done);
    if (n <= 0) throw_errno("write pipe data to", what);
    done += static_cast<size_t>(n);
  }
}

void capture_pipe_fd(CaptureContext& c, FdState& f, const std::string& target, TreeState& tree) {
  f.kind = FdKind::kPipe;
  f.pipe_id = std::strtoull(target.c_str() + 6, nullptr, 10);  // "pipe:[ID]"
  if (!known(tree, f.pipe_id))
    tree.pipes.push_back(pipe_state(c.pid, f.fd, f.pipe_id, fd_name(c, f.fd)));
}

void capture_fifo_fd(CaptureContext& c, FdState& f, const std::string& target, uint64_t inode,
                     TreeState& tree) {
  // A named FIFO is a pipe with a name: its bytes in flight are kept like a pipe's.
  f.kind = FdKind::kPipe;
  f.pipe_id = inode;
  f.path = c.relative(target, "fd " + std::to_string(f.fd));
  if (!known(tree, f.pipe_id)) {
    tree.pipes.push_back(pipe_state(c.pid, f.fd, f.pipe_id, fd_name(c, f.fd)));
    tree.pipes.back().path = f.path;
  }
}

PipeHolder hold_pipe(FillContext& c, const PipeState& p, int min_fd) {
  int pair[2];
  if (p.path.empty()) {
    RemotePtr fds = c.put(kScratchStruct, std::string(8, '\0'));
    c.leader().check("pipe2", SYS_pipe2, fds.addr, O_CLOEXEC);
    std::string got = c.mem.read(fds, sizeof pair);
    std::memcpy(pair, got.data(), sizeof pair);
  } else {
    // A named FIFO opened for reading and writing holds both ends without blocking.
    RemotePtr path = c.put_string(kScratchPath, p.path);
    long fd = c.leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), path.addr,
                              O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) throw SysError("open (in the revived process) FIFO", p.path, static_cast<int>(-fd));
    pair[0] = static_cast<int>(fd);
    pair[1] = static_cast<int>(c.leader().check("dup", SYS_dup, static_cast<uint64_t>(fd)));
  }
  PipeHolder h{c.image.pid, -1, -1};
  // Out of the way of every fd number the image uses.
  h.read_fd = static_cast<int>(
      c.leader().check("fcntl(F_DUPFD_CLOEXEC)", SYS_fcntl, pair[0], F_DUPFD_CLOEXEC, min_fd));
  h.write_fd = static_cast<int>(
      c.leader().check("fcntl(F_DUPFD_CLOEXEC)", SYS_fcntl, pair[1], F_DUPFD_CLOEXEC, min_fd));
  c.leader().call(SYS_close, pair[0]);
  c.leader().call(SYS_close, pair[1]);
  // Fill it from here, through the holder's /proc entry: no data passes through the tracee.
  std::string link = procfs::fd_path(c.host, h.write_fd);
  int w = ::open(link.c_str(), O_WRONLY | O_CLOEXEC);
  if (w < 0) throw_errno("open", link);
  ScopedFd wfd(w);
  fill_pipe(w, p, link);
  return h;
}

void release_pipe(FillContext& c, const PipeHolder& h) {
  c.leader().call(SYS_close, static_cast<uint64_t>(h.read_fd));
  c.leader().call(SYS_close, static_cast<uint64_t>(h.write_fd));
}

void restore_pipe_fd(FillContext& c, const FdState& f, uint32_t flags, const PipeHolders& pipes) {
  const PipeHolder& h = pipes.at(f.pipe_id);
  int end = (f.flags & O_ACCMODE) == O_WRONLY ? h.write_fd : h.read_fd;
  std::string path = procfs::fd_path(h.holder, end);
  RemotePtr p = c.put_string(kScratchPath, path);
  c.place_fd(c.leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), p.addr, flags), f.fd,
             "fd " + std::to_string(f.fd) + " of " + c.name() + " (pipe via " + path + ")");
}

}  // namespace deja::kmod
