// inotify instances and their watches. Each watch is resolved at capture to a path of the
// session (the kernel keeps only the inode: its fdinfo gives a file handle), because a
// branch's files are another btrfs subvolume: the original handle would watch the original
// session's files. On revive each watch is added again by path, at its old watch
// descriptor (INOTIFY_IOC_SETNEXTWD, CONFIG_CHECKPOINT_RESTORE). Events queued and not read
// at the checkpoint are not kept: the revived instance starts with an empty queue.
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "kmod/ProcFs.h"
#include "kmod/ProcessFill.h"
#include "kmod/objects/ObjectsInternal.h"

namespace deja::kmod {

namespace {

// INOTIFY_IOC_SETNEXTWD of linux/inotify.h, which clashes with glibc's sys/inotify.h.
constexpr unsigned long kInotifySetNextWd = _IOW('I', 0, int32_t);

/// The mount points (as the process sees them) of filesystem `dev` in its mount namespace.
std::vector<std::string> mounts_of(HostPid pid, dev_t dev) {
  std::ifstream in(procfs::path(pid, "mountinfo"));
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string id, parent, majmin, root, point;
    f >> id >> parent >> majmin >> root >> point;
    unsigned maj = 0, min = 0;
    if (std::sscanf(majmin.c_str(), "%u:%u", &maj, &min) == 2 && makedev(maj, min) == dev)
      out.push_back(point);
  }
  return out;
}

std::string unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

/// The path, relative to the process's root, of the file behind one fdinfo watch line.
std::string watched_path(const FdSite& site, const std::string& line, int wd) {
  unsigned long long ino = 0, sdev = 0;
  unsigned bytes = 0;
  int type = 0;
  char hex[260] = {};
  const char* at = std::strstr(line.c_str(), "ino:");
  if (!at || std::sscanf(at, "ino:%llx sdev:%llx", &ino, &sdev) != 2 ||
      !(at = std::strstr(line.c_str(), "fhandle-bytes:")) ||
      std::sscanf(at, "fhandle-bytes:%x fhandle-type:%x f_handle:%258s", &bytes, &type, hex) != 3)
    throw Error(site.what() + ": cannot parse inotify watch " + std::to_string(wd) + ": " + line);
  std::string raw = unhex(hex);
  std::string handle(sizeof(file_handle) + raw.size(), '\0');
  auto* fh = reinterpret_cast<file_handle*>(handle.data());
  fh->handle_bytes = static_cast<unsigned>(raw.size());
  fh->handle_type = type;
  std::copy(raw.begin(), raw.end(), handle.data() + sizeof(file_handle));
  // The kernel's s_dev: major in the bits above 20.
  dev_t dev = makedev(static_cast<unsigned>(sdev >> 20), static_cast<unsigned>(sdev & 0xfffff));
  std::string root = procfs::read_link(procfs::path(site.pid, "root"));
  std::string proc_root = procfs::path(site.pid, "root");
  // The kernel keeps no path, and a file can be reached through several mounts of its
  // filesystem (the session's own mount over a view of the whole disk): the most recent
  // mount that reaches it is the one the session means. A path found is checked to name the
  // same inode from inside the process.
  std::vector<std::string> points = mounts_of(site.pid, dev);
  for (auto point = points.rbegin(); point != points.rend(); ++point) {
    // (open_by_handle_at refuses an O_PATH fd for the mount.)
    ScopedFd mnt(::open((proc_root + *point).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!mnt) continue;
    ScopedFd file(::open_by_handle_at(mnt.get(), fh, O_PATH | O_CLOEXEC));
    if (!file) continue;
    std::string path = procfs::read_link("/proc/self/fd/" + std::to_string(file.get()));
    std::string inside;
    if (root == "/") inside = path;
    else if (path == root) inside = "/";
    else if (path.compare(0, root.size() + 1, root + "/") == 0) inside = path.substr(root.size());
    // (btrfs gives each subvolume its own st_dev: compare with the file itself.)
    struct stat want, st;
    if (!inside.empty() && ::fstat(file.get(), &want) == 0 && want.st_ino == ino &&
        ::stat((proc_root + inside).c_str(), &st) == 0 && st.st_ino == ino &&
        st.st_dev == want.st_dev)
      return inside;
  }
  throw Error(site.what() + ": inotify watch " + std::to_string(wd) + " (inode " +
              std::to_string(ino) + ") is on a file the engine cannot find inside the process's "
              "root; not supported");
}

}  // namespace

namespace objects {

InotifyState capture_inotify(const FdSite& site, uint64_t id) {
  InotifyState in;
  in.id = id;
  for (const std::string& line : fdinfo_lines(site, "inotify ")) {
    InotifyWatch w;
    if (std::sscanf(line.c_str(), "inotify wd:%d", &w.wd) != 1 ||
        std::sscanf(std::strstr(line.c_str(), " mask:"), " mask:%x", &w.mask) != 1)
      throw Error(site.what() + ": cannot parse its inotify watch: " + line);
    w.path = watched_path(site, line, w.wd);
    in.watches.push_back(std::move(w));
  }
  // Added again in this order, each at its number.
  std::sort(in.watches.begin(), in.watches.end(),
            [](const InotifyWatch& a, const InotifyWatch& b) { return a.wd < b.wd; });
  return in;
}

}  // namespace objects

void ObjectRevive::create_inotify(const InotifyState& in) {
  ProcessFill& h = holder_of(FdKind::kInotify, in.id);
  long fd = h.syscalls().call(SYS_inotify_init1, IN_CLOEXEC | IN_NONBLOCK);
  Held held{h.vpid(), objects::park(h, fd, min_fd_, "inotify_init1")};
  held_[{FdKind::kInotify, in.id}] = held;
  std::string what = "inotify object " + std::to_string(in.id) + " of " + h.name();
  ScopedFd copy = copy_of(held, what);
  // The paths are the branch's: reached through the holder's own root.
  std::string root = procfs::path(h.host(), "root");
  for (const InotifyWatch& w : in.watches) {
    // The ioctl takes the number itself; the next watch gets the lowest free one from it.
    if (::ioctl(copy.get(), kInotifySetNextWd, static_cast<long>(w.wd)) < 0)
      throw_errno("ioctl(INOTIFY_IOC_SETNEXTWD)", what);
    std::string path = root + w.path;
    int got = ::inotify_add_watch(copy.get(), path.c_str(), w.mask);
    if (got < 0) throw_errno("inotify_add_watch", what + ": " + w.path);
    if (got != w.wd)
      throw Error(what + ": watch on " + w.path + " came back as " + std::to_string(got) +
                  ", not " + std::to_string(w.wd));
  }
}

}  // namespace deja::kmod
