#include "base/Cgroup.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <sstream>

#include "base/Error.h"
#include "base/Files.h"

namespace deja {

std::string cgroup2_mount() {
  std::istringstream in(read_file("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    // Fields: id parent major:minor root mountpoint options ... - fstype source superopts
    auto dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream f(line);
    std::string id, parent, dev, root, mountpoint;
    f >> id >> parent >> dev >> root >> mountpoint;
    return mountpoint;
  }
  throw Error("no cgroup v2 file system is mounted (see /proc/self/mountinfo); Deja needs one");
}

Cgroup Cgroup::create(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir", path);
  return open(path);
}

Cgroup Cgroup::open(const std::string& path) {
  Cgroup cg;
  cg.path_ = path;
  cg.dir_ = ScopedFd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cg.dir_) throw_errno("open", path);
  return cg;
}

std::vector<pid_t> Cgroup::procs() const {
  std::istringstream in(read_file(path_ + "/cgroup.procs"));
  std::vector<pid_t> out;
  pid_t p;
  while (in >> p) out.push_back(p);
  return out;
}

bool Cgroup::contains(pid_t pid) const {
  for (pid_t p : procs())
    if (p == pid) return true;
  return false;
}

void Cgroup::set_frozen(bool frozen) {
  write_file(path_ + "/cgroup.freeze", frozen ? "1" : "0");
}

void Cgroup::wait_frozen(bool frozen, std::chrono::milliseconds timeout) {
  std::string events = path_ + "/cgroup.events";
  ScopedFd fd(::open(events.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", events);
  const std::string want = frozen ? "frozen 1" : "frozen 0";
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + timeout;
  for (;;) {
    char buf[256];
    ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
    if (n < 0) throw_errno("read", events);
    if (std::string_view(buf, static_cast<size_t>(n)).find(want) != std::string_view::npos) return;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline)
      throw Error("cgroup " + path_ + " did not reach '" + want + "' within " +
                  std::to_string(timeout.count()) + " ms");
    // The kernel rate-limits cgroup.events notifications to one per 10 ms, so a freeze right
    // after a thaw would wait for the next tick. Re-read often at first (freezing takes well
    // under a millisecond), then sleep on POLLPRI.
    if (now - start < std::chrono::milliseconds(5)) {
      timespec nap{0, 20000};
      ::nanosleep(&nap, nullptr);
    } else {
      pollfd p{fd.get(), POLLPRI, 0};
      if (::poll(&p, 1, 1) < 0 && errno != EINTR) throw_errno("poll", events);
    }
  }
}

void Cgroup::kill_all() {
  write_file(path_ + "/cgroup.kill", "1");
}

void Cgroup::remove() {
  dir_.reset();
  if (::rmdir(path_.c_str()) != 0 && errno != ENOENT) throw_errno("rmdir", path_);
}

void Cgroup::end() {
  set_frozen(false);
  kill_all();
  // The kernel empties the group asynchronously after the kill.
  for (int i = 0; i < 500 && !empty(); ++i) ::usleep(10000);
  remove();
}

FrozenCgroup::FrozenCgroup(Cgroup& cg) : cg_(cg) {
  cg_.set_frozen(true);
  frozen_ = true;
  cg_.wait_frozen(true, std::chrono::milliseconds(5000));
}

FrozenCgroup::~FrozenCgroup() {
  if (!frozen_) return;
  try {
    cg_.set_frozen(false);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "deja: could not thaw %s: %s\n", cg_.path().c_str(), e.what());
  }
}

void FrozenCgroup::thaw() {
  frozen_ = false;
  cg_.set_frozen(false);
}

}  // namespace deja
