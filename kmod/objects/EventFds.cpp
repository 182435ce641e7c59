// eventfd (counter, semaphore mode), timerfd (clock, time left, interval, expirations not
// read) and signalfd (mask). Timers go on from the time they had left, counted from the
// revive.
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "base/Error.h"
#include "kmod/ProcessFill.h"
#include "kmod/objects/ObjectsInternal.h"

namespace deja::kmod {

namespace {

// TFD_IOC_SET_TICKS (linux/timerfd.h, which Debian 12's headers lack in userspace form).
constexpr unsigned long kTimerfdSetTicks = _IOW('T', 0, uint64_t);

uint64_t ns_of(const std::string& pair, const std::string& what) {
  unsigned long long sec = 0, nsec = 0;
  if (std::sscanf(pair.c_str(), "(%llu, %llu)", &sec, &nsec) != 2)
    throw Error(what + ": cannot parse timer value \"" + pair + "\" in its fdinfo");
  return sec * 1000000000ull + nsec;
}

timespec ts_of(uint64_t ns) {
  return timespec{static_cast<time_t>(ns / 1000000000ull), static_cast<long>(ns % 1000000000ull)};
}

}  // namespace

namespace objects {

EventState capture_event(const FdSite& site, EventKind kind, uint64_t id) {
  const std::string& info = fdinfo_text(site);
  auto need = [&](const char* key) {
    std::string v = fdinfo_value(info, key);
    if (v.empty()) throw Error(site.what() + ": its fdinfo lacks \"" + key + "\"");
    return v;
  };
  EventState e;
  e.id = id;
  e.kind = kind;
  switch (kind) {
    case EventKind::kEventfd:
      e.count = std::strtoull(need("eventfd-count:").c_str(), nullptr, 16);
      e.semaphore = static_cast<uint32_t>(std::atoi(need("eventfd-semaphore:").c_str()));
      break;
    case EventKind::kTimerfd:
      e.clock = std::atoi(need("clockid:").c_str());
      e.count = std::strtoull(need("ticks:").c_str(), nullptr, 10);
      e.timer_flags = static_cast<uint32_t>(std::strtoul(need("settime flags:").c_str(), nullptr, 8));
      e.value_ns = ns_of(need("it_value:"), site.what());
      e.interval_ns = ns_of(need("it_interval:"), site.what());
      break;
    case EventKind::kSignalfd:
      e.sigmask = std::strtoull(need("sigmask:").c_str(), nullptr, 16);
      break;
  }
  return e;
}

}  // namespace objects

void ObjectRevive::create_event(const EventState& e) {
  FdKind kind = e.kind == EventKind::kEventfd   ? FdKind::kEventfd
                : e.kind == EventKind::kTimerfd ? FdKind::kTimerfd
                                                : FdKind::kSignalfd;
  ProcessFill& h = holder_of(kind, e.id);
  RemoteSyscalls& rs = h.syscalls();
  long fd = -1;
  const char* call = "";
  switch (e.kind) {
    case EventKind::kEventfd:
      call = "eventfd2";
      fd = rs.call(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK | (e.semaphore ? EFD_SEMAPHORE : 0));
      break;
    case EventKind::kTimerfd:
      call = "timerfd_create";
      fd = rs.call(SYS_timerfd_create, static_cast<uint64_t>(e.clock), TFD_CLOEXEC | TFD_NONBLOCK);
      break;
    case EventKind::kSignalfd: {
      call = "signalfd4";
      RemotePtr mask = h.put_struct(std::string_view(reinterpret_cast<const char*>(&e.sigmask), 8));
      fd = rs.call(SYS_signalfd4, static_cast<uint64_t>(-1), mask.addr, 8, SFD_CLOEXEC | SFD_NONBLOCK);
      break;
    }
  }
  Held held{h.vpid(), objects::park(h, fd, min_fd_, call)};
  held_[{kind, e.id}] = held;
  std::string what = std::string(call) + " object " + std::to_string(e.id) + " of " + h.name();
  if (e.kind == EventKind::kEventfd && e.count) {
    ScopedFd copy = copy_of(held, what);
    if (::write(copy.get(), &e.count, sizeof e.count) != sizeof e.count) throw_errno("write", what);
  }
  if (e.kind == EventKind::kTimerfd) {
    ScopedFd copy = copy_of(held, what);
    if (e.count && ::ioctl(copy.get(), kTimerfdSetTicks, &e.count) < 0)
      throw_errno("ioctl(TFD_IOC_SET_TICKS)", what);
    itimerspec spec{ts_of(e.interval_ns), ts_of(e.value_ns)};
    if ((e.value_ns || e.interval_ns) && ::timerfd_settime(copy.get(), 0, &spec, nullptr) < 0)
      throw_errno("timerfd_settime", what);
  }
}

}  // namespace deja::kmod
