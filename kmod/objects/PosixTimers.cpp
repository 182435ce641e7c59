// POSIX timers (timer_create): id, clock, notification (signal, none, or a thread of the
// process), signal value, time left and interval. Ids come back the same through
// prctl(PR_TIMER_CREATE_RESTORE_IDS) (Linux 6.17+). Timers go on from the time they had
// left, counted from the revive. The overrun count is recorded but cannot be set again: the
// kernel counts anew from the revive.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>

#include <cstdio>
#include <cstring>
#include <sstream>

#include "base/Error.h"
#include "base/Files.h"
#include "kmod/ProcFs.h"
#include "kmod/objects/Objects.h"

namespace deja::kmod {

namespace {

// linux/prctl.h of Debian 12 predates these (Linux 6.17).
constexpr int kPrTimerCreateRestoreIds = 77;
constexpr unsigned long kRestoreIdsOff = 0, kRestoreIdsOn = 1;

uint64_t ns_of(const timespec& t) {
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

timespec ts_of(uint64_t ns) {
  return timespec{static_cast<time_t>(ns / 1000000000ull), static_cast<long>(ns % 1000000000ull)};
}

// The kernel's sigevent: value, signo, notify, then the thread id (sigev_notify_thread_id).
struct KernelSigevent {
  uint64_t value;
  int32_t signo;
  int32_t notify;
  int32_t tid;
  char pad[64 - 20];
};
static_assert(sizeof(KernelSigevent) == 64);

/// Parses one "ID: ..." block of /proc/PID/timers.
PosixTimerState parse_timer(const std::string& block, const CaptureContext& c,
                            const ProcessState& p) {
  PosixTimerState t;
  std::istringstream in(block);
  std::string line;
  char how[16] = {}, whom[8] = {};
  int who = 0;
  bool notify_seen = false;
  while (std::getline(in, line)) {
    unsigned long long value = 0;
    unsigned signo = 0;
    if (std::sscanf(line.c_str(), "ID: %d", &t.id) == 1) continue;
    if (std::sscanf(line.c_str(), "signal: %u/%llx", &signo, &value) == 2) {
      t.signo = signo;
      t.sigval = value;
    } else if (std::sscanf(line.c_str(), "notify: %15[a-z]/%7[a-z].%d", how, whom, &who) == 3) {
      notify_seen = true;
    } else {
      std::sscanf(line.c_str(), "ClockID: %d", &t.clock);
    }
  }
  if (!notify_seen)
    throw Error(c.name() + ": cannot parse " + procfs::path(c.pid, "timers") + ": " + block);
  std::string h = how;
  t.notify = h == "none" ? SIGEV_NONE : h == "thread" ? SIGEV_THREAD : SIGEV_SIGNAL;
  if (std::string(whom) == "tid") {
    t.notify |= SIGEV_THREAD_ID;
    for (size_t i = 0; i < c.threads.size(); ++i)
      if (c.threads[i].tid().value == who) t.thread = p.threads[i].tid;
    if (!t.thread.value)
      throw Error(c.name() + ": POSIX timer " + std::to_string(t.id) + " notifies thread " +
                  std::to_string(who) + ", which is not one of the process's threads");
  }
  return t;
}

}  // namespace

void capture_posix_timers(CaptureContext& c, ProcessState& p) {
  std::string text = read_file(procfs::path(c.pid, "timers"));
  for (size_t at = text.find("ID: "); at != std::string::npos;) {
    size_t next = text.find("\nID: ", at);
    p.posix_timers.push_back(parse_timer(
        text.substr(at, next == std::string::npos ? std::string::npos : next - at), c, p));
    at = next == std::string::npos ? next : next + 1;
  }
}

void ask_posix_timers(std::vector<Query>& queries, ProcessState& p) {
  for (PosixTimerState& t : p.posix_timers) {
    auto id = static_cast<uint64_t>(t.id);
    queries.push_back({"timer_gettime", SYS_timer_gettime, {id}, 1, [&t](long, const char* out) {
                         itimerspec spec;
                         std::memcpy(&spec, out, sizeof spec);
                         t.value_ns = ns_of(spec.it_value);
                         t.interval_ns = ns_of(spec.it_interval);
                       }});
    queries.push_back({"timer_getoverrun", SYS_timer_getoverrun, {id}, -1,
                       [&t](long r, const char*) { t.overrun = static_cast<int32_t>(r); }});
  }
}

void restore_posix_timers(FillContext& c) {
  if (c.image.posix_timers.empty()) return;
  RemoteSyscalls& rs = c.leader();
  // Creation at the ids the image has: timer_create reads the wanted id from its third
  // argument while this is on.
  rs.check("prctl(PR_TIMER_CREATE_RESTORE_IDS)", SYS_prctl, kPrTimerCreateRestoreIds,
           kRestoreIdsOn, 0, 0, 0);
  // /proc/PID/timers lists the newest first: created oldest first, they list as before.
  for (auto it = c.image.posix_timers.rbegin(); it != c.image.posix_timers.rend(); ++it) {
    const PosixTimerState& t = *it;
    KernelSigevent ev{};
    ev.value = t.sigval;
    ev.signo = static_cast<int32_t>(t.signo);
    ev.notify = static_cast<int32_t>(t.notify);
    ev.tid = t.thread.value;
    RemotePtr evp = c.put(kScratchStruct, std::string_view(reinterpret_cast<char*>(&ev), sizeof ev));
    RemotePtr idp = c.put(kScratchStruct + sizeof ev,
                          std::string_view(reinterpret_cast<const char*>(&t.id), sizeof t.id));
    long r = rs.call(SYS_timer_create, static_cast<uint64_t>(t.clock), evp.addr, idp.addr);
    if (r < 0) {
      rs.call(SYS_prctl, kPrTimerCreateRestoreIds, kRestoreIdsOff, 0, 0, 0);
      throw SysError("timer_create (in the revived process)",
                     c.name() + ": POSIX timer " + std::to_string(t.id), static_cast<int>(-r));
    }
  }
  rs.check("prctl(PR_TIMER_CREATE_RESTORE_IDS)", SYS_prctl, kPrTimerCreateRestoreIds,
           kRestoreIdsOff, 0, 0, 0);
  // Armed last, together, so they lose as little time as possible.
  for (const PosixTimerState& t : c.image.posix_timers) {
    if (!t.value_ns) continue;  // disarmed
    itimerspec spec{ts_of(t.interval_ns), ts_of(t.value_ns)};
    RemotePtr sp = c.put(kScratchStruct, std::string_view(reinterpret_cast<char*>(&spec), sizeof spec));
    rs.check("timer_settime", SYS_timer_settime, static_cast<uint64_t>(t.id), 0, sp.addr, 0);
  }
}

}  // namespace deja::kmod
