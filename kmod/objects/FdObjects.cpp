#include "kmod/objects/FdObjects.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <algorithm>
#include <sstream>

#include "base/Error.h"
#include "kmod/ProcFs.h"
#include "kmod/ProcessFill.h"
#include "kmod/objects/ObjectsInternal.h"
#include "kmod/objects/UnixDiag.h"

namespace deja::kmod {

ScopedFd copy_fd(HostPid pid, int fd, const std::string& what) {
  ScopedFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid.value, 0)));
  if (!pidfd) throw_errno("pidfd_open", what);
  ScopedFd copy(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), fd, 0)));
  if (!copy) throw_errno("pidfd_getfd", what);
  return copy;
}

namespace objects {

const std::string& fdinfo_text(const FdSite& site) {
  return site.fdinfo;
}

std::string fdinfo_value(const std::string& text, const std::string& key) {
  size_t at = text.find(key);
  while (at != std::string::npos && at != 0 && text[at - 1] != '\n') at = text.find(key, at + 1);
  if (at == std::string::npos) return {};
  size_t start = text.find_first_not_of(" \t", at + key.size());
  size_t end = text.find('\n', at);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::vector<std::string> fdinfo_lines(const FdSite& site, std::string_view prefix) {
  std::vector<std::string> out;
  std::istringstream lines(fdinfo_text(site));
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with(prefix)) out.push_back(std::move(line));
  return out;
}

int get_sockopt(int fd, int level, int name, const char* opt, const std::string& what) {
  int v = 0;
  socklen_t len = sizeof v;
  if (::getsockopt(fd, level, name, &v, &len) < 0)
    throw_errno(std::string("getsockopt(") + opt + ")", what);
  return v;
}

void set_sockopt(int fd, int level, int name, int v, const char* opt, const std::string& what) {
  if (::setsockopt(fd, level, name, &v, sizeof v) < 0)
    throw_errno(std::string("setsockopt(") + opt + ")", what);
}

int park(ProcessFill& p, long fd, int min_fd, const std::string& what) {
  if (fd < 0) throw SysError(what + " (in the revived process)", p.name(), static_cast<int>(-fd));
  long parked = p.syscalls().call(SYS_fcntl, static_cast<uint64_t>(fd), F_DUPFD_CLOEXEC,
                                  static_cast<uint64_t>(min_fd));
  p.syscalls().call(SYS_close, static_cast<uint64_t>(fd));
  if (parked < 0) throw SysError("fcntl(F_DUPFD_CLOEXEC)", p.name(), static_cast<int>(-parked));
  return static_cast<int>(parked);
}

}  // namespace objects

// ---- capture ---------------------------------------------------------------------------

ObjectCapture::ObjectCapture(TreeState& tree, const std::map<HostPid, VPid>& vpids,
                             CaptureCaches* caches)
    : tree_(tree), vpids_(vpids), caches_(caches ? caches : &own_caches_) {
  caches_->next_capture();
}

ObjectCapture::~ObjectCapture() = default;

bool ObjectCapture::handles(const std::string& target) {
  return target.rfind("socket:[", 0) == 0 || target.rfind("anon_inode:", 0) == 0 ||
         target.rfind("/dev/pts/", 0) == 0 || target == "/dev/ptmx";
}

ObjectCapture::Place ObjectCapture::place_of(const FdSite& site, std::vector<size_t>& same) {
  auto order = [&](size_t i) {
    const Seen& s = seen_[i];
    long r = ::syscall(SYS_kcmp, site.pid.value, s.pid.value, KCMP_FILE, site.fd, s.fd);
    if (r < 0) throw_errno("kcmp(KCMP_FILE)", site.what());
    return r;
  };
  size_t lo = 0, hi = same.size();
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    long r = order(same[mid]);
    if (r == 0) return {mid, true};
    if (r == 3) {
      // A kernel that gives no order: compare with each.
      for (size_t i = 0; i < same.size(); ++i)
        if (order(same[i]) == 0) return {i, true};
      return {same.size(), false};
    }
    if (r == 1)
      hi = mid;
    else
      lo = mid + 1;
  }
  return {lo, false};
}

void ObjectCapture::remember_at(const FdSite& site, FdKind kind, uint64_t id,
                                std::vector<size_t>& same, size_t at) {
  seen_.push_back({site.pid, site.fd, kind, id, site.target});
  same.insert(same.begin() + static_cast<std::ptrdiff_t>(at), seen_.size() - 1);
}

void ObjectCapture::remember(const FdSite& site, FdKind kind, uint64_t id) {
  std::vector<size_t>& same = by_target_[{kind, site.target}];
  remember_at(site, kind, id, same, place_of(site, same).at);
}

void ObjectCapture::identify_open_file(const FdSite& site, FdState& f) {
  known(site, f, f.kind);
}

bool ObjectCapture::known(const FdSite& site, FdState& f, FdKind kind) {
  f.kind = kind;
  // One search: where the open file is, or where a new one goes.
  std::vector<size_t>& same = by_target_[{kind, site.target}];
  Place p = place_of(site, same);
  if (p.found) {
    f.object_id = seen_[same[p.at]].id;
    return true;
  }
  f.object_id = next_id_++;
  remember_at(site, kind, f.object_id, same, p.at);
  return false;
}

VPid ObjectCapture::to_vpid(pid_t host) const {
  auto it = vpids_.find(HostPid{host});
  return it == vpids_.end() ? VPid{0} : it->second;
}

pid_t ObjectCapture::init_host_pid() const {
  for (const auto& [host, v] : vpids_)
    if (v.value == 1) return host.value;
  throw Error("capture: the tree has no init (PID 1 of its namespace)");
}

void ObjectCapture::capture(const FdSite& site, FdState& f) {
  const std::string& t = site.target;
  if (t.rfind("socket:[", 0) == 0) return capture_socket(site, f);
  if (t == "anon_inode:[eventpoll]") {
    if (!known(site, f, FdKind::kEpoll))
      tree_.epolls.push_back(objects::capture_epoll(site, f.object_id));
    return;
  }
  if (t == "anon_inode:inotify") {
    if (!known(site, f, FdKind::kInotify))
      tree_.inotifies.push_back(objects::capture_inotify(site, f.object_id));
    return;
  }
  if (t == "anon_inode:[pidfd]") {
    if (!known(site, f, FdKind::kPidfd)) capture_pidfd(site, f.object_id);
    return;
  }
  struct Event {
    const char* target;
    FdKind fd_kind;
    EventKind kind;
  };
  constexpr Event kEvents[] = {{"anon_inode:[eventfd]", FdKind::kEventfd, EventKind::kEventfd},
                               {"anon_inode:[timerfd]", FdKind::kTimerfd, EventKind::kTimerfd},
                               {"anon_inode:[signalfd]", FdKind::kSignalfd, EventKind::kSignalfd}};
  for (const Event& e : kEvents) {
    if (t != e.target) continue;
    if (!known(site, f, e.fd_kind))
      tree_.events.push_back(objects::capture_event(site, e.kind, f.object_id));
    return;
  }
  if (t == "/dev/ptmx" || t.rfind("/dev/pts/", 0) == 0) {
    bool master = t == "/dev/ptmx" || t == "/dev/pts/ptmx";
    uint32_t index = master ? objects::pty_index(site) : objects::slave_index(site);
    return capture_tty(site, f, master, index);
  }
  std::string kind = t.substr(std::string("anon_inode:").size());
  throw Error(site.what() + " is " + kind +
              ", not supported yet (fanotify, userfaultfd, io_uring and other "
              "anonymous-inode files)");
}

// ---- revive ----------------------------------------------------------------------------

ObjectRevive::ObjectRevive(const TreeState& tree, const std::map<VPid, ProcessFill*>& fills,
                           int min_fd)
    : tree_(tree), fills_(fills), min_fd_(min_fd) {}

ObjectRevive::~ObjectRevive() = default;

void ObjectRevive::create_all() {
  create_sockets();
  for (const EventState& e : tree_.events) create_event(e);
  for (const InotifyState& in : tree_.inotifies) create_inotify(in);
  for (const PidfdState& pf : tree_.pidfds) create_pidfd(pf);
  create_ttys();
}

ProcessFill& ObjectRevive::holder_of(FdKind kind, uint64_t id, int depth) {
  for (const ProcessState& p : tree_.processes)
    for (const FdState& f : p.fds)
      if (f.kind == kind && f.object_id == id) return *fills_.at(p.pid);
  // In flight only: made where the socket carrying it is (a chain of sockets in flight on
  // each other ends at one a process holds; the image cannot hold a longer one than this).
  if (depth < 16)
    for (const UnixSocketState& s : tree_.unix_sockets) {
      if (s.ancillary.empty()) continue;
      for (const objects::QueuedMessage& m : objects::unpack_queue(s))
        for (const auto& [k, object] : m.fds)
          if (k == kind && object == id) return holder_of(FdKind::kUnixSocket, s.id, depth + 1);
    }
  throw Error("revive: no process of the image holds object " + std::to_string(id));
}

ScopedFd ObjectRevive::copy_of(const Held& h, const std::string& what) const {
  return copy_fd(fills_.at(h.holder)->host(), h.fd, what);
}

void ObjectRevive::take(ProcessFill& p, const Held& h, const FdState& f) {
  RemoteSyscalls& rs = p.syscalls();
  std::string what = "fd " + std::to_string(f.fd) + " of " + p.name();
  long got;
  if (h.holder == p.vpid()) {
    got = rs.call(SYS_fcntl, static_cast<uint64_t>(h.fd), F_DUPFD_CLOEXEC, 0);
  } else {
    // The open file itself, from the process holding it: shared as it was.
    long pidfd = rs.check("pidfd_open", SYS_pidfd_open, static_cast<uint64_t>(h.holder.value), 0);
    got = rs.call(SYS_pidfd_getfd, static_cast<uint64_t>(pidfd), static_cast<uint64_t>(h.fd), 0);
    rs.call(SYS_close, static_cast<uint64_t>(pidfd));
  }
  p.place_fd(got, f.fd, what);
  rs.check("fcntl(F_SETFD)", SYS_fcntl, static_cast<uint64_t>(f.fd), F_SETFD,
           f.cloexec ? FD_CLOEXEC : 0);
  rs.check("fcntl(F_SETFL)", SYS_fcntl, static_cast<uint64_t>(f.fd), F_SETFL,
           f.flags & (O_NONBLOCK | O_APPEND | O_ASYNC));
}

void ObjectRevive::install(ProcessFill& p, const FdState& f) {
  if (f.kind == FdKind::kPtySlave) return objects::open_slave(p, f);
  auto key = std::make_pair(f.kind, f.object_id);
  if (f.kind == FdKind::kEpoll && !held_.count(key)) {
    auto e = std::find_if(tree_.epolls.begin(), tree_.epolls.end(),
                          [&](const EpollState& x) { return x.id == f.object_id; });
    if (e == tree_.epolls.end())
      throw Error("revive: image lacks the record of epoll " + std::to_string(f.object_id));
    create_epoll(p, *e);
  }
  auto h = held_.find(key);
  if (h == held_.end())
    throw Error("revive: image lacks the record of the object behind fd " + std::to_string(f.fd) +
                " of " + p.name());
  take(p, h->second, f);
}

bool ObjectRevive::take_open_file(ProcessFill& p, const FdState& f) {
  auto h = f.object_id ? open_files_.find(f.object_id) : open_files_.end();
  if (h == open_files_.end()) return false;
  take(p, h->second, f);
  return true;
}

void ObjectRevive::opened_file(ProcessFill& p, const FdState& f) {
  if (f.object_id) open_files_.emplace(f.object_id, Held{p.vpid(), f.fd});
}

void ObjectRevive::release_all() {
  auto close = [this](const Held& h) {
    fills_.at(h.holder)->syscalls().call(SYS_close, static_cast<uint64_t>(h.fd));
  };
  for (const auto& [key, h] : held_) close(h);
  for (const auto& [id, h] : stand_ins_) close(h);
  for (const Held& h : spare_ptys_) close(h);
  held_.clear();
  stand_ins_.clear();
  spare_ptys_.clear();
}

}  // namespace deja::kmod
