#include "kmod/ProcessChanges.h"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "base/Error.h"
#include "base/Files.h"

namespace deja::kmod {

namespace {

constexpr size_t kRingPages = 32;  // 128 KiB: 8,000 records a CPU between two drains

// The id from a tracefs mounted at `root`, or nullopt when it is not mounted there.
std::optional<uint64_t> id_below(const std::string& root, const std::string& system,
                                 const std::string& event) {
  std::string path = root + "/events/" + system + "/" + event + "/id";
  if (::access(path.c_str(), R_OK) != 0) return std::nullopt;
  return std::strtoull(read_file(path).c_str(), nullptr, 10);
}

// Mounts tracefs at `mountpoint` in a child's own mount namespace and reads the id there.
uint64_t id_from_private_tracefs(const std::string& mountpoint, const std::string& system,
                                 const std::string& event) {
  std::string path = mountpoint + "/events/" + system + "/" + event + "/id";
  int out[2];
  if (::pipe2(out, O_CLOEXEC) < 0) throw_errno("pipe2", "tracepoint id");
  ScopedFd rd(out[0]), wr(out[1]);
  // The recorder has threads: the child makes only system calls.
  pid_t child = ::fork();
  if (child < 0) throw_errno("fork", "tracepoint id");
  if (child == 0) {
    char buf[32];
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tracefs", mountpoint.c_str(), "tracefs", 0, nullptr) != 0)
      ::_exit(2);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) ::_exit(3);
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0 || ::write(wr.get(), buf, static_cast<size_t>(n)) != n) ::_exit(4);
    ::_exit(0);
  }
  wr.reset();
  std::string text;
  char buf[32];
  ssize_t n;
  while ((n = ::read(rd.get(), buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || text.empty()) {
    const char* why = !WIFEXITED(status)         ? "ended by a signal"
                      : WEXITSTATUS(status) == 2 ? "could not mount tracefs"
                      : WEXITSTATUS(status) == 3 ? "has no such tracepoint"
                                                 : "could not read it";
    throw Error("tracepoint " + system + "/" + event + ": the kernel " + why + " (" + path + ")");
  }
  return std::strtoull(text.c_str(), nullptr, 10);
}

// The CPUs the kernel has online ("0-3,6").
std::vector<int> online_cpus() {
  std::vector<int> cpus;
  std::string text = read_file("/sys/devices/system/cpu/online");
  for (size_t at = 0; at < text.size();) {
    char* end;
    long lo = std::strtol(text.c_str() + at, &end, 10), hi = lo;
    if (*end == '-') hi = std::strtol(end + 1, &end, 10);
    for (long c = lo; c <= hi; ++c) cpus.push_back(static_cast<int>(c));
    at = static_cast<size_t>(end - text.c_str()) + 1;
  }
  return cpus;
}

uint64_t lookup_tracepoint_id(const std::string& system, const std::string& event) {
  for (const char* root : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"})
    if (auto id = id_below(root, system, event)) return *id;
  return id_from_private_tracefs("/sys/kernel/tracing", system, event);
}

}  // namespace

uint64_t tracepoint_id(const std::string& system, const std::string& event) {
  // Looked up once each: an id does not change while the kernel runs.
  static std::mutex mu;
  static std::map<std::string, uint64_t> known;
  std::lock_guard lock(mu);
  std::string key = system + "/" + event;
  auto it = known.find(key);
  if (it != known.end()) return it->second;
  uint64_t id = lookup_tracepoint_id(system, event);
  known.emplace(key, id);
  return id;
}

TracepointHits::TracepointHits(const std::string& cgroup_dir, const std::string& system,
                               const std::string& event, const std::string& filter) {
  uint64_t id = tracepoint_id(system, event);
  ScopedFd group(::open(cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!group) throw_errno("open", cgroup_dir);
  perf_event_attr attr{};
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.size = sizeof attr;
  attr.config = id;
  attr.sample_period = 1;
  attr.sample_type = PERF_SAMPLE_TID;
  // Nobody waits on the ring: it is read before and under each freeze.
  attr.watermark = 1;
  attr.wakeup_watermark = static_cast<uint32_t>(kRingPages * 4096);
  size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  for (int cpu : online_cpus()) {
    Ring r;
    r.fd.reset(static_cast<int>(::syscall(SYS_perf_event_open, &attr, group.get(), cpu, -1,
                                          PERF_FLAG_PID_CGROUP | PERF_FLAG_FD_CLOEXEC)));
    std::string what = system + "/" + event + " tracepoint for cgroup " + cgroup_dir + " on cpu " +
                       std::to_string(cpu);
    if (!r.fd) throw_errno("perf_event_open", what);
    if (::ioctl(r.fd.get(), PERF_EVENT_IOC_SET_FILTER, filter.c_str()) < 0)
      throw_errno("ioctl(PERF_EVENT_IOC_SET_FILTER)", what);
    r.bytes = (kRingPages + 1) * page;
    r.base = ::mmap(nullptr, r.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd.get(), 0);
    if (r.base == MAP_FAILED) throw_errno("mmap", what);
    rings_.push_back(std::move(r));
  }
}

TracepointHits::~TracepointHits() {
  for (Ring& r : rings_) ::munmap(r.base, r.bytes);
}

void TracepointHits::mark() {
  for (Ring& r : rings_) drain(r);
  hits_.clear();
  lost_ = false;
}

std::optional<std::set<HostPid>> TracepointHits::since_mark() {
  for (Ring& r : rings_) drain(r);
  if (lost_) return std::nullopt;
  return hits_;
}

// Only the write lock changes mappings; page faults and /proc readers take it to read.
MappingChanges::MappingChanges(const std::string& cgroup_dir)
    : TracepointHits(cgroup_dir, "mmap_lock", "mmap_lock_acquire_returned", "write != 0") {}

namespace {

// The system calls TaskChanges watches, as a filter on raw_syscalls/sys_enter's `id`.
std::string task_calls_filter() {
  constexpr long kCalls[] = {
      SYS_rt_sigaction, SYS_rt_sigreturn,    SYS_sigaltstack, SYS_brk,          SYS_personality,
      SYS_prctl,        SYS_setitimer,       SYS_alarm,       SYS_timer_create, SYS_timer_settime,
      SYS_timer_delete, SYS_set_tid_address, SYS_execve,      SYS_execveat,     SYS_setuid,
      SYS_setgid,       SYS_setreuid,        SYS_setregid,    SYS_setresuid,    SYS_setresgid,
      SYS_setfsuid,     SYS_setfsgid,        SYS_setgroups,   SYS_capset,       SYS_unshare,
      SYS_setns};
  std::string filter;
  for (long nr : kCalls) filter += (filter.empty() ? "id == " : " || id == ") + std::to_string(nr);
  return filter;
}

}  // namespace

TaskChanges::TaskChanges(const std::string& cgroup_dir)
    : TracepointHits(cgroup_dir, "raw_syscalls", "sys_enter", task_calls_filter()) {}

void TracepointHits::drain(Ring& r) {
  auto* meta = static_cast<perf_event_mmap_page*>(r.base);
  const char* data = static_cast<const char*>(r.base) + meta->data_offset;
  uint64_t size = meta->data_size;
  uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
  uint64_t tail = meta->data_tail;
  // A record may wrap around the end of the ring: copied out in two parts.
  auto copy = [&](uint64_t at, void* to, size_t n) {
    size_t off = static_cast<size_t>(at % size), first = std::min<size_t>(n, size - off);
    std::memcpy(to, data + off, first);
    std::memcpy(static_cast<char*>(to) + first, data, n - first);
  };
  while (tail < head) {
    perf_event_header h;
    copy(tail, &h, sizeof h);
    if (h.size < sizeof h) {  // never written so by the kernel; trust nothing after it
      lost_ = true;
      break;
    }
    if (h.type == PERF_RECORD_SAMPLE && h.size >= sizeof h + 8) {
      uint32_t ids[2];  // PERF_SAMPLE_TID: pid (the thread group), tid
      copy(tail + sizeof h, ids, sizeof ids);
      hits_.insert(HostPid{static_cast<pid_t>(ids[0])});
    } else if (h.type == PERF_RECORD_LOST || h.type == PERF_RECORD_THROTTLE) {
      lost_ = true;  // records were dropped (ring full, or sampling throttled)
    }
    tail += h.size;
  }
  __atomic_store_n(&meta->data_tail, head, __ATOMIC_RELEASE);
}

}  // namespace deja::kmod
