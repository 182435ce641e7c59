// Shared-memory objects: shared anonymous memory, memfds, and regular files unlinked while
// open or mapped. Kept once per tree with their contents (read from outside through the
// map_files or fd link, skipping holes); at revive created in a holder process as a memfd
// (a deleted file is recreated at its path and unlinked again) and opened by every other.
#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "kmod/ProcFs.h"
#include "kmod/objects/Objects.h"

namespace deja::kmod {

namespace {

// The size and contents of the shared-memory object open at `fd` (through `path`, named in
// errors): only the data it holds; holes (never written) and pages of zeros are skipped.
ShmemState contents(int fd, const std::string& path, uint64_t id) {
  struct stat sb;
  if (::fstat(fd, &sb) < 0) throw_errno("fstat", path);
  ShmemState sh;
  sh.id = id;
  sh.size = static_cast<uint64_t>(sb.st_size);
  sh.mode = sb.st_mode;
  std::string page(kPageSize, '\0');
  off_t pos = 0;
  while (static_cast<uint64_t>(pos) < sh.size) {
    off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) break;  // ENXIO: only a hole is left
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) throw_errno("lseek(SEEK_HOLE)", path);
    for (off_t at = data / kPageSize * kPageSize; at < hole; at += kPageSize) {
      ssize_t n = ::pread(fd, page.data(), kPageSize, at);
      if (n < 0) throw_errno("pread", path);
      if (n < static_cast<ssize_t>(kPageSize)) std::fill(page.begin() + n, page.end(), '\0');
      if (all_zero(page.data(), kPageSize)) continue;
      uint64_t off = static_cast<uint64_t>(at);
      if (!sh.pages.empty() && sh.pages.back().addr + sh.pages.back().count * kPageSize == off) {
        sh.pages.back().data += page;
        ++sh.pages.back().count;
      } else {
        sh.pages.push_back(PageExtent{off, 1, page, Crid{}, 0});
      }
    }
    pos = hole;
  }
  return sh;
}

// Records the shared-memory object behind `path` (a map_files or fd link) once per tree.
void shmem_object(const CaptureContext& c, const std::string& path, uint64_t id,
                  const std::string& link_text, TreeState& tree) {
  for (const ShmemState& s : tree.shmems)
    if (s.id == id) return;
  // Opening the map_files or fd link gives the object itself, readable from here.
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", path);
  ShmemState sh = contents(fd.get(), path, id);
  uint32_t mode = sh.mode;
  sh.mode = 0;
  const std::string deleted = " (deleted)";
  std::string bare = link_text.substr(0, link_text.size() - deleted.size());
  sh.anonymous = link_text.starts_with("/dev/zero");
  if (link_text.starts_with("/memfd:")) {
    sh.name = bare.substr(7);
  } else if (!sh.anonymous) {
    if (!S_ISREG(mode))
      throw Error(c.name() + ": " + link_text +
                  " is deleted and not a regular file (not supported)");
    sh.path = c.relative(bare, "deleted file");
    sh.mode = mode & 07777;
  }
  tree.shmems.push_back(std::move(sh));
}

long create_deleted_file(FillContext& c, const ShmemState& s) {
  // Recreated where it was and unlinked again; when that name is taken now, under a
  // private name in the same folder (only /proc's "(deleted)" link text shows the change).
  for (const std::string& path : {s.path, s.path + ".deja-deleted-" + std::to_string(s.id)}) {
    RemotePtr p = c.put_string(kScratchPath, path);
    long fd = c.leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), p.addr,
                              O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, s.mode);
    if (fd == -EEXIST) continue;
    if (fd < 0)
      throw SysError("recreate deleted file (in the revived process)", path, static_cast<int>(-fd));
    c.leader().check("unlink", SYS_unlinkat, static_cast<uint64_t>(AT_FDCWD), p.addr, 0);
    return fd;
  }
  throw Error(c.name() + ": cannot recreate deleted file " + s.path + ": both names are taken");
}

}  // namespace

ShmemState memfd_state(const std::string& path, const std::string& link_text, uint64_t id) {
  // A description of its own: reading it seeks, which the one in flight must not see.
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", path);
  ShmemState sh = contents(fd.get(), path, id);
  sh.mode = 0;
  sh.name = link_text.substr(7, link_text.size() - 7 - std::string(" (deleted)").size());
  return sh;
}

void fill_shmem(int fd, const ShmemState& s, const std::string& what) {
  for (const PageExtent& e : s.pages) {
    size_t len = std::min<uint64_t>(e.data.size(), s.size - e.addr);  // last page may be partial
    for (size_t done = 0; done < len;) {
      ssize_t n = ::pwrite(fd, e.data.data() + done, len - done, static_cast<off_t>(e.addr + done));
      if (n <= 0) throw_errno("write shared memory contents to", what);
      done += static_cast<size_t>(n);
    }
  }
}

void capture_deleted_fd(CaptureContext& c, FdState& f, const std::string& target, TreeState& tree) {
  // memfds, and regular files unlinked while open: the contents go into the image.
  std::string link_path = procfs::fd_path(c.pid, f.fd);
  struct stat sb;
  if (::stat(link_path.c_str(), &sb) < 0) throw_errno("stat", link_path);
  if (is_mqueue(link_path)) return capture_mqueue_fd(c, f, target, tree);  // refused
  if (!S_ISREG(sb.st_mode))
    throw Error(c.name() + ": fd " + std::to_string(f.fd) + " (" + target +
                ") is a deleted non-regular file (not supported yet)");
  f.kind = FdKind::kShmem;
  f.shmem_id = sb.st_ino;
  shmem_object(c, link_path, f.shmem_id, target, tree);
}

void capture_mapped_shmem(CaptureContext& c, const ProcessState& p, TreeState& tree) {
  for (const Vma& v : p.vmas)
    if (v.kind == VmaKind::kShmem)
      shmem_object(c, procfs::map_file_path(c.pid, v.start, v.end), v.shmem_id, v.path, tree);
}

ShmemHolder hold_shmem(FillContext& c, const ShmemState& s, int min_fd) {
  long fd;
  if (!s.path.empty()) {
    fd = create_deleted_file(c, s);
  } else {
    RemotePtr name_ptr = c.put_string(kScratchPath, s.name.empty() ? "deja-shmem" : s.name);
    fd = c.leader().check("memfd_create", SYS_memfd_create, name_ptr.addr, MFD_CLOEXEC);
  }
  ShmemHolder h{c.image.pid, -1};
  h.fd = static_cast<int>(c.leader().check("fcntl(F_DUPFD_CLOEXEC)", SYS_fcntl,
                                           static_cast<uint64_t>(fd), F_DUPFD_CLOEXEC, min_fd));
  c.leader().call(SYS_close, static_cast<uint64_t>(fd));
  c.leader().check("ftruncate", SYS_ftruncate, static_cast<uint64_t>(h.fd), s.size);
  // The contents are written from here through the holder's /proc entry.
  std::string link = procfs::fd_path(c.host, h.fd);
  ScopedFd w(::open(link.c_str(), O_WRONLY | O_CLOEXEC));
  if (!w) throw_errno("open", link);
  fill_shmem(w.get(), s, link);
  return h;
}

void release_shmem(FillContext& c, const ShmemHolder& h) {
  c.leader().call(SYS_close, static_cast<uint64_t>(h.fd));
}

void restore_shmem_fd(FillContext& c, const FdState& f, uint32_t flags,
                      const ShmemHolders& shmems) {
  const ShmemHolder& h = shmems.at(f.shmem_id);
  std::string path = procfs::fd_path(h.holder, h.fd);
  RemotePtr p = c.put_string(kScratchPath, path);
  c.place_fd(c.leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), p.addr, flags), f.fd,
             "fd " + std::to_string(f.fd) + " of " + c.name() + " (memfd via " + path + ")");
  c.leader().check("lseek", SYS_lseek, static_cast<uint64_t>(f.fd), f.pos, SEEK_SET);
}

}  // namespace deja::kmod
