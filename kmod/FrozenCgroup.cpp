#include "kmod/FrozenCgroup.h"

#include <fcntl.h>
#include <poll.h>

#include <chrono>
#include <sstream>

#include "base/Error.h"
#include "base/Files.h"
#include "base/ScopedFd.h"

namespace deja::kmod {

FrozenCgroup::FrozenCgroup(std::string dir) : dir_(std::move(dir)) {
  std::string events = dir_ + "/cgroup.events";
  ScopedFd ev(::open(events.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ev) throw_errno("open", events);
  write_file(dir_ + "/cgroup.freeze", "1");
  frozen_ = true;
  // cgroup.events signals changes with POLLPRI; poll with a deadline in case a task is stuck
  // in an uninterruptible sleep and never reaches the freezer.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    char buf[256];
    ssize_t n = ::pread(ev.get(), buf, sizeof buf - 1, 0);
    if (n < 0) throw_errno("read", events);
    if (std::string(buf, static_cast<size_t>(n)).find("frozen 1") != std::string::npos) return;
    if (std::chrono::steady_clock::now() > deadline)
      throw Error("cgroup " + dir_ + " did not freeze within 5 s");
    pollfd p{ev.get(), POLLPRI, 0};
    ::poll(&p, 1, 100);
  }
}

FrozenCgroup::~FrozenCgroup() {
  try {
    thaw();
  } catch (const Error&) {
    // The group is gone: nothing left frozen.
  }
}

void FrozenCgroup::thaw() {
  if (!frozen_) return;
  frozen_ = false;
  write_file(dir_ + "/cgroup.freeze", "0");
}

std::string cgroup2_mount() {
  std::istringstream in(read_file("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER"
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream rest(line.substr(dash + 3));
    std::string fstype;
    rest >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, dev, root, mountpoint;
    head >> id >> parent >> dev >> root >> mountpoint;
    return mountpoint;
  }
  throw Error("no cgroup2 file system is mounted (see /proc/self/mountinfo)");
}

}  // namespace deja::kmod
