#include "kmod/ProcessCapture.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <optional>

#include "base/Error.h"
#include "base/Files.h"
#include "base/ScopedFd.h"
#include "kmod/ImageFormat.h"
#include "kmod/KernelCompat.h"
#include "kmod/Parasite.h"
#include "kmod/ProcFs.h"
#include "kmod/RemoteMemory.h"
#include "kmod/RemoteSyscalls.h"

namespace deja::kmod {

namespace {

std::string proc(HostPid pid) {
  return "/proc/" + std::to_string(pid.value);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

uint64_t non_default_signals(HostPid pid) {
  auto st = procfs::status(pid);
  return std::strtoull(st["SigCgt"].c_str(), nullptr, 16) |
         std::strtoull(st["SigIgn"].c_str(), nullptr, 16);
}

std::string capability_sets(std::map<std::string, std::string>& status) {
  return status["CapInh"] + " " + status["CapPrm"] + " " + status["CapEff"] + " " +
         status["CapBnd"] + " " + status["CapAmb"];
}

ProcessCapture::ProcessCapture(HostPid pid, std::vector<Tracee>& threads,
                               const std::map<HostPid, VPid>& vpids, ObjectCapture& objects,
                               ProcessTracking* tracking)
    : pid_(pid), threads_(threads), vpids_(vpids), objects_(objects), tracking_(tracking) {}

std::string ProcessCapture::name() const {
  return "process " + std::to_string(vpid_.value) + " (" + comm_ + ", host pid " +
         std::to_string(pid_.value) + ")";
}

std::string ProcessCapture::relative(const std::string& path, const std::string& what) const {
  if (ends_with(path, " (deleted)"))
    throw Error(name() + ": " + what + " " + path +
                " is an open-but-deleted file (not supported yet)");
  if (root_ == "/") return path;
  if (path == root_) return "/";
  if (path.compare(0, root_.size() + 1, root_ + "/") == 0) return path.substr(root_.size());
  throw Error(name() + ": " + what + " " + path + " lies outside the process's root " + root_);
}

void ProcessCapture::run(ProcessState& p, TreeState& tree) {
  task_attributes(p);
  threads(p);
  injected(p);  // before reading mappings: it maps and unmaps a scratch page
  mappings(p);
  auto t0 = std::chrono::steady_clock::now();
  pages(p);
  pages_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  files(p, tree);
  for (const Vma& v : p.vmas)
    if (v.kind == VmaKind::kShmem)
      shmem_object(proc(pid_) + "/map_files/" + hex(v.start) + "-" + hex(v.end), v.shmem_id, v.path,
                   tree);
}

void ProcessCapture::task_attributes(ProcessState& p) {
  auto st = procfs::status(pid_);
  vpid_ = VPid{procfs::innermost(st["NSpid"])};
  comm_ = read_file(proc(pid_) + "/comm");
  if (!comm_.empty() && comm_.back() == '\n') comm_.pop_back();
  p.pid = vpid_;
  p.host_pid = pid_;
  p.comm = comm_;
  auto parent = vpids_.find(HostPid{std::atoi(st["PPid"].c_str())});
  p.ppid = parent == vpids_.end() ? VPid{0} : parent->second;
  p.pgid = VPid{procfs::innermost(st["NSpgid"])};
  p.sid = VPid{procfs::innermost(st["NSsid"])};
  p.umask = static_cast<uint32_t>(std::strtoul(st["Umask"].c_str(), nullptr, 8));
  unsigned ru, eu, su, fu, rg, eg, sg, fg;
  if (std::sscanf(st["Uid"].c_str(), "%u %u %u %u", &ru, &eu, &su, &fu) != 4 ||
      std::sscanf(st["Gid"].c_str(), "%u %u %u %u", &rg, &eg, &sg, &fg) != 4)
    throw Error(name() + ": cannot parse Uid/Gid in " + proc(pid_) + "/status");
  if (ru != eu || ru != su || ru != fu || rg != eg || rg != sg || rg != fg)
    throw Error(name() + ": has differing real/effective/saved ids (uid " + st["Uid"] + ", gid " +
                st["Gid"] + "), not supported yet");
  p.uid = ru;
  p.gid = rg;
  p.no_new_privs = static_cast<uint32_t>(std::atoi(st["NoNewPrivs"].c_str()));
  p.capabilities = capability_sets(st);
  if (st.count("Seccomp") && st["Seccomp"] != "0")
    throw Error(name() + ": uses seccomp (mode " + st["Seccomp"] + "), not supported yet");
  std::string timers = read_file(proc(pid_) + "/timers");
  if (!timers.empty())
    throw Error(name() + ": has POSIX timers (timer_create), not supported yet: " +
                timers.substr(0, timers.find('\n')));

  root_ = procfs::read_link(proc(pid_) + "/root");
  p.root = root_;
  p.cwd = relative(procfs::read_link(proc(pid_) + "/cwd"), "working directory");
  p.exe = relative(procfs::read_link(proc(pid_) + "/exe"), "executable");

  auto f = procfs::stat_fields(pid_);
  if (f.size() < 53) throw Error(name() + ": " + proc(pid_) + "/stat has too few fields");
  auto u = [&](int i) { return std::strtoull(f[static_cast<size_t>(i)].c_str(), nullptr, 10); };
  p.mm.start_code = u(26);
  p.mm.end_code = u(27);
  p.mm.start_stack = u(28);
  p.mm.start_data = u(45);
  p.mm.end_data = u(46);
  p.mm.start_brk = u(47);
  p.mm.arg_start = u(48);
  p.mm.arg_end = u(49);
  p.mm.env_start = u(50);
  p.mm.env_end = u(51);
  p.mm.auxv = read_file(proc(pid_) + "/auxv");
  // A session leader gets its controlling terminal back; other members of its session
  // cannot be given one (only a leader may acquire it), so theirs is not recorded.
  if (p.sid == p.pid) p.ctty = objects_.controlling_tty(name(), u(7));
  p.personality = std::strtoull(read_file(proc(pid_) + "/personality").c_str(), nullptr, 16);
  // /proc/PID/limits rather than prlimit(2), which is refused across differing credentials.
  p.rlimits = procfs::limits(pid_);
  if (p.rlimits.size() != RLIM_NLIMITS)
    throw Error(name() + ": " + proc(pid_) + "/limits lists " + std::to_string(p.rlimits.size()) +
                " limits, expected " + std::to_string(RLIM_NLIMITS));
}

void ProcessCapture::threads(ProcessState& p) {
  for (Tracee& t : threads_) {
    ThreadState th;
    // get_robust_list works from outside for a tracer; the list head lives in the thread's
    // TLS and the kernel walks it when the thread exits.
    size_t len = 0;
    if (::syscall(SYS_get_robust_list, t.tid().value, &th.robust_list, &len) < 0)
      throw_errno("get_robust_list", t.name());
    th.robust_list_len = len;
    auto st = procfs::task_status(pid_, t.tid());
    th.tid = VPid{procfs::innermost(st["NSpid"])};
    th.comm = read_file(proc(pid_) + "/task/" + std::to_string(t.tid().value) + "/comm");
    if (!th.comm.empty() && th.comm.back() == '\n') th.comm.pop_back();
    // Scheduling, readable from outside: nice (stat field 19), rt priority and policy
    // (fields 40, 41), and the CPU affinity mask.
    auto tf = procfs::task_stat_fields(pid_, t.tid());
    if (tf.size() < 42) throw Error(name() + ": task stat too short");
    th.nice = std::atoi(tf[19].c_str());
    th.rt_priority = static_cast<uint32_t>(std::strtoul(tf[40].c_str(), nullptr, 10));
    th.policy = static_cast<uint32_t>(std::strtoul(tf[41].c_str(), nullptr, 10));
    cpu_set_t cpus;
    if (::sched_getaffinity(t.tid().value, sizeof cpus, &cpus) < 0)
      throw_errno("sched_getaffinity", t.name());
    th.affinity.assign(reinterpret_cast<const char*>(&cpus), sizeof cpus);
    th.regs = t.regs();
    th.xsave = t.xstate();
    th.sigmask = t.signal_mask();
    // Queued siginfo keeps sender PIDs as the kernel stored them: in the receiver's
    // namespace (kill) or as the sender wrote them (sigqueue), so they need no translation.
    th.pending = t.pending_signals(false);
    auto rseq = t.rseq();
    th.rseq_addr = rseq.rseq_abi_pointer;
    th.rseq_len = rseq.rseq_abi_size;
    th.rseq_sig = rseq.signature;
    p.threads.push_back(std::move(th));
  }
  p.shared_pending = threads_[0].pending_signals(true);
}

std::unique_ptr<RemoteSyscalls> ProcessCapture::injector(Tracee& t) const {
  if (tracking_ && tracking_->parasite) return std::make_unique<RemoteSyscalls>(t, *tracking_->parasite);
  return std::make_unique<RemoteSyscalls>(t, syscall_insn_);
}

void ProcessCapture::injected(ProcessState& p) {
  std::vector<procfs::MapsEntry> maps = procfs::maps(pid_);
  for (const auto& m : maps)
    if (m.path == "[vdso]") {
      vdso_start_ = m.start;
      vdso_end_ = m.end;
    }
  if (!vdso_start_) throw Error(name() + ": has no [vdso] mapping to run syscalls from");
  syscall_insn_ = find_syscall_insn(pid_, vdso_start_, vdso_end_);

  // Dispositions, brk and prctl state are only readable from inside the process: run the
  // syscalls there, with scratch room for their results. A recorder keeps the engine's pages
  // in each process for that (see Parasite.h).
  if (tracking_) {
    std::optional<Parasite>& parasite = tracking_->parasite;
    if (parasite && !parasite_intact(pid_, *parasite, maps)) parasite.reset();
    if (!parasite) parasite = install_parasite(threads_[0], syscall_insn_);
    process_state(p, parasite->scratch());
    return;
  }
  // A one-off capture maps a scratch page for the occasion.
  RemotePtr s{static_cast<uint64_t>(injector(threads_[0])->check(
      "mmap", SYS_mmap, 0, kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
      static_cast<uint64_t>(-1), 0))};
  try {
    process_state(p, s);
  } catch (...) {
    injector(threads_[0])->call(SYS_munmap, s.addr, kPageSize);
    throw;
  }
  injector(threads_[0])->check("munmap", SYS_munmap, s.addr, kPageSize);
}

// One syscall whose answer only the process itself can give: its arguments, which of them
// points at the output (-1: none; the output then is the result alone), and what to do with
// the answer.
struct Query {
  const char* what;
  long nr;
  std::array<uint64_t, 6> args;
  int out_arg;
  std::function<void(long result, const char* out)> take;
};

namespace {

constexpr size_t kQueryOut = 32;  // room for each output: struct sigaction, itimerval, stack_t
constexpr size_t kQueriesAtOnce = 20;

}  // namespace

void ProcessCapture::ask(Tracee& t, std::vector<Query>& queries, RemotePtr scratch,
                         const RemoteMemory& mem) {
  for (size_t at = 0; at < queries.size(); at += kQueriesAtOnce) {
    size_t n = std::min(kQueriesAtOnce, queries.size() - at);
    std::vector<RemoteSyscalls::Call> calls;
    for (size_t i = 0; i < n; ++i) {
      Query& q = queries[at + i];
      RemoteSyscalls::Call c{q.nr, q.args};
      if (q.out_arg >= 0) c.args[static_cast<size_t>(q.out_arg)] = scratch.addr + i * kQueryOut;
      calls.push_back(c);
    }
    std::vector<long> results = injector(t)->run(calls);
    std::string out(n * kQueryOut, '\0');
    mem.read_into(scratch, out.data(), out.size());
    for (size_t i = 0; i < n; ++i) {
      long r = results[i];
      if (r < 0 && r > -4096)
        throw_errno(std::string("injected ") + queries[at + i].what, t.name(), static_cast<int>(-r));
      queries[at + i].take(r, out.data() + i * kQueryOut);
    }
  }
}

void ProcessCapture::process_state(ProcessState& p, RemotePtr s) {
  RemoteMemory mem(pid_);
  std::vector<Query> process;
  // Only signals that are caught or ignored can differ from the default in a way that
  // matters, plus SIGCHLD whose flags (SA_NOCLDWAIT, SA_NOCLDSTOP) act even at SIG_DFL;
  // asking for just those keeps the injected syscalls, and the downtime, few.
  uint64_t interesting = non_default_signals(pid_) | (1ull << (SIGCHLD - 1));
  for (int sig = 1; sig <= 64; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP || !(interesting & (1ull << (sig - 1)))) continue;
    process.push_back({"rt_sigaction", SYS_rt_sigaction, {static_cast<uint64_t>(sig), 0, 0, 8},
                       2, [&p, sig](long, const char* out) {
                         uint64_t ka[4];  // handler, flags, restorer, mask: the kernel's
                         std::memcpy(ka, out, sizeof ka);
                         if (ka[0] != 0 || ka[1] != 0 || ka[3] != 0)
                           p.sigactions.push_back({sig, ka[0], ka[1], ka[2], ka[3]});
                       }});
  }
  process.push_back({"brk", SYS_brk, {0}, -1,
                     [&p](long r, const char*) { p.mm.brk = static_cast<uint64_t>(r); }});
  process.push_back({"prctl(PR_GET_DUMPABLE)", SYS_prctl, {PR_GET_DUMPABLE}, -1,
                     [&p](long r, const char*) { p.dumpable = static_cast<uint32_t>(r); }});
  process.push_back({"prctl(PR_GET_CHILD_SUBREAPER)", SYS_prctl, {PR_GET_CHILD_SUBREAPER}, 1,
                     [&p](long, const char* out) {
                       int sub;
                       std::memcpy(&sub, out, sizeof sub);
                       p.child_subreaper = static_cast<uint32_t>(sub);
                     }});
  // Interval timers, with the time left (getitimer reports what remains).
  for (int which = 0; which < 3; ++which)
    process.push_back({"getitimer", SYS_getitimer, {static_cast<uint64_t>(which)}, 1,
                       [&p](long, const char* out) { p.itimers.append(out, sizeof(itimerval)); }});
  // Per-thread state that only the thread itself can report; thread by thread, as the
  // engine's pages hold one thread's way back. The first thread's go with the rest.
  for (size_t i = 0; i < threads_.size(); ++i) {
    ThreadState& th = p.threads[i];
    std::vector<Query> own;
    std::vector<Query>& queries = i == 0 ? process : own;
    queries.push_back({"prctl(PR_GET_TID_ADDRESS)", SYS_prctl, {PR_GET_TID_ADDRESS}, 1,
                       [&th](long, const char* out) {
                         std::memcpy(&th.clear_child_tid, out, sizeof th.clear_child_tid);
                       }});
    queries.push_back({"sigaltstack", SYS_sigaltstack, {0}, 1, [&](long, const char* out) {
                         stack_t ss;
                         std::memcpy(&ss, out, sizeof ss);
                         th.altstack_sp = reinterpret_cast<uint64_t>(ss.ss_sp);
                         th.altstack_flags = static_cast<uint32_t>(ss.ss_flags);
                         th.altstack_size = ss.ss_size;
                         if (ss.ss_flags & SS_ONSTACK)
                           throw Error(name() + ": thread " + std::to_string(th.tid.value) +
                                       " is running on its alternate signal stack; retry later");
                       }});
    ask(threads_[i], queries, s, mem);
  }
}

uint32_t ProcessCapture::advice(const std::string& flags, const std::string& what) const {
  struct Flag {
    const char* name;
    uint32_t bit;
  };
  constexpr Flag kFlags[] = {{"dc", kAdviceDontFork},   {"wf", kAdviceWipeOnFork},
                             {"dd", kAdviceDontDump},   {"hg", kAdviceHugePage},
                             {"nh", kAdviceNoHugePage}, {"mg", kAdviceMergeable},
                             {"sr", kAdviceSequential}, {"rr", kAdviceRandom},
                             {"lo", kAdviceLocked},     {"ac", kAdviceAccounted}};
  uint32_t out = 0;
  std::string_view rest(flags);
  while (!rest.empty()) {
    size_t end = rest.find(' ');
    std::string_view f = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (f.empty()) continue;
    // Write-protect registration is what this recorder's own dirty tracker makes: a process
    // holding a userfaultfd of its own is refused by its fd anyway.
    if (f == "uw" && tracking_) continue;
    if (f == "um" || f == "uw" || f == "ui")
      throw Error(name() + ": " + what + " is registered with a userfaultfd (not supported yet)");
    for (const Flag& k : kFlags)
      if (f == k.name) out |= k.bit;
  }
  return out;
}

void ProcessCapture::mappings(ProcessState& p) {
  std::vector<procfs::MapsEntry> maps = procfs::maps(pid_);
  std::optional<std::map<uint64_t, std::string>> flags;
  if (tracking_) flags = tracking_->flags_for(maps);
  if (!flags) {
    flags.emplace();
    for (procfs::SmapsEntry& e : procfs::smaps(pid_)) (*flags)[e.map.start] = std::move(e.flags);
  }
  std::map<std::pair<std::string, uint64_t>, struct stat> files;
  for (const auto& m : maps) {
    std::string what = "mapping " + procfs::describe(m);
    Vma v;
    v.start = m.start;
    v.end = m.end;
    v.prot = (m.perms[0] == 'r' ? PROT_READ : 0) | (m.perms[1] == 'w' ? PROT_WRITE : 0) |
             (m.perms[2] == 'x' ? PROT_EXEC : 0);
    bool shared = m.perms[3] == 's';
    v.flags = shared ? MAP_SHARED : MAP_PRIVATE;
    v.pgoff = m.offset;
    if (m.path == "[vsyscall]") continue;  // fixed by the kernel, present in every process
    if (tracking_ && tracking_->parasite && tracking_->parasite->contains(m.start)) {
      // The engine's own pages: never part of the process's image.
      if (m.end > tracking_->parasite->code.addr + DEJA_PARASITE_SIZE)
        throw Error(name() + ": " + what + " grew over the engine's pages");
      continue;
    }
    if (m.path == "[vvar]") {
      v.kind = VmaKind::kVvar;
    } else if (m.path == "[vvar_vclock]") {
      v.kind = VmaKind::kVvarVclock;
    } else if (m.path == "[vdso]") {
      v.kind = VmaKind::kVdso;
    } else if (procfs::anonymous(m)) {
      if (shared)
        throw Error(name() + ": " + what + " is shared anonymous memory (not supported yet)");
      if (m.inode != 0)
        throw Error(name() + ": " + what + " is an anonymous mapping of an inode (not supported)");
      v.kind = VmaKind::kAnon;
      v.flags |= MAP_ANONYMOUS;
      if (m.path == "[stack]") v.flags |= MAP_GROWSDOWN;
      v.pgoff = 0;
    } else if ((m.path.rfind("/dev/zero", 0) == 0 || m.path.rfind("/memfd:", 0) == 0) &&
               ends_with(m.path, " (deleted)")) {
      // Shared anonymous memory and memfds are shmem objects; the pages live with the
      // object, once per tree (private COW pages of a private mapping stay with the process).
      v.kind = VmaKind::kShmem;
      v.shmem_id = m.inode;
      v.path = m.path;
    } else if (m.path.rfind("/SYSV", 0) == 0) {
      throw Error(name() + ": " + what + " is System V shared memory (not supported yet)");
    } else if (m.path[0] == '/' && ends_with(m.path, " (deleted)")) {
      // A file unlinked while mapped: its contents are kept like a shared-memory object's.
      v.kind = VmaKind::kShmem;
      v.shmem_id = m.inode;
      v.path = m.path;
    } else if (m.path[0] == '/') {
      v.kind = VmaKind::kFile;
      v.path = relative(m.path, "mapped file");
      // A file is mapped several times over (a library's text, data, relro...): one stat.
      auto [known, fresh] = files.try_emplace({m.path, m.inode});
      struct stat& sb = known->second;
      std::string mf = proc(pid_) + "/map_files/" + hex(m.start) + "-" + hex(m.end);
      if (fresh && ::stat(mf.c_str(), &sb) < 0) throw_errno("stat", mf);
      if (!S_ISREG(sb.st_mode))
        throw Error(name() + ": " + what + " maps something other than a regular file");
      v.dev = sb.st_dev;
      v.inode = sb.st_ino;
      v.file_size = static_cast<uint64_t>(sb.st_size);
      v.mtime_ns = static_cast<uint64_t>(sb.st_mtim.tv_sec) * 1000000000ull +
                   static_cast<uint64_t>(sb.st_mtim.tv_nsec);
    } else {
      throw Error(name() + ": " + what + " is a special mapping the engine does not know");
    }
    if (v.kind == VmaKind::kAnon || v.kind == VmaKind::kFile || v.kind == VmaKind::kShmem)
      v.advice = advice((*flags)[m.start], what);
    p.vmas.push_back(std::move(v));
  }
}

void ProcessCapture::pages(ProcessState& p) {
  std::string pm = proc(pid_) + "/pagemap";
  ScopedFd pagemap(::open(pm.c_str(), O_RDONLY | O_CLOEXEC));
  if (!pagemap) throw_errno("open", pm);
  RemoteMemory mem(pid_);
  std::vector<uint64_t> entries;
  for (const Vma& v : p.vmas) {
    // Shared file mappings keep their data in the file; the vDSO block comes from the kernel.
    if (v.kind != VmaKind::kAnon && v.kind != VmaKind::kFile && v.kind != VmaKind::kShmem) continue;
    if (v.flags & MAP_SHARED) continue;
    bool anon = v.kind == VmaKind::kAnon;
    if (tracking_) {
      if (tracked_pages(v, mem, pagemap.get())) continue;
      // New to the tracker (or moved, or the process exec'd): protect it first, then read
      // it in full while the process is still held, so no write falls in between.
      start_tracking(v);
    }
    // Past the end of a mapped file only pages the process holds itself (copied on write
    // before a truncate) exist: the rest cannot even be touched (SIGBUS), though the
    // tracker's write-protect markers make the pagemap list them like swapped pages.
    uint64_t eof = ~0ull;
    if (v.kind == VmaKind::kFile) {
      uint64_t file_pages_end = (v.file_size + kPageSize - 1) / kPageSize * kPageSize;
      eof = file_pages_end > v.pgoff ? v.start + (file_pages_end - v.pgoff) : v.start;
    }
    // The pagemap is read in windows so a huge reservation (GiBs of PROT_NONE address space)
    // costs bounded memory; a run of pages never spans two windows.
    constexpr uint64_t kWindow = 1 << 18;  // pages: 1 GiB of address space, 2 MiB of entries
    for (uint64_t w = v.start; w < v.end; w += kWindow * kPageSize)
      window_pages(p, mem, pagemap.get(), pm, {w, std::min(v.end, w + kWindow * kPageSize)}, eof,
                   anon, entries);
  }
}

bool ProcessCapture::tracked_pages(const Vma& v, const RemoteMemory& mem, int pagemap) {
  if (!tracking_->tracker) return false;
  auto scanned = scan_written(v, pagemap);
  if (!scanned) return false;
  copy_now(v, scanned->written, mem);
  keep_precopied(v, scanned->unchanged, mem);
  return true;
}

void ProcessCapture::copy_now(const Vma& v, const std::vector<PageRange>& ranges,
                              const RemoteMemory& mem) {
  // Into the process's reused buffer (no allocation or page faults here, under the freeze);
  // PageTracking::add_references turns them into extents after the thaw.
  std::vector<RemoteMemory::Piece> pieces;
  uint64_t at = tracking_->copied_bytes;
  for (const PageRange& w : ranges) {
    tracking_->copied.push_back({w.start, (w.end - w.start) / kPageSize, at, v.kind == VmaKind::kAnon});
    at += w.end - w.start;
  }
  if (tracking_->buffer.size() < at) tracking_->buffer.resize(at);
  for (const PageRange& w : ranges) {
    pieces.push_back({RemotePtr{w.start}, tracking_->buffer.data() + tracking_->copied_bytes,
                      w.end - w.start});
    tracking_->copied_bytes += w.end - w.start;
  }
  // The session is held and the other core idle: big copies go in two halves at once.
  constexpr size_t kSplitPieces = 256;
  if (pieces.size() >= kSplitPieces) {
    size_t half = pieces.size() / 2;
    std::vector<RemoteMemory::Piece> second(pieces.begin() + static_cast<long>(half), pieces.end());
    pieces.resize(half);
    auto other = std::async(std::launch::async, [&] { mem.read_batch(second); });
    mem.read_batch(pieces);
    other.get();
  } else {
    mem.read_batch(pieces);
  }
}

void ProcessCapture::keep_precopied(const Vma& v, const std::vector<PageRange>& unchanged,
                                    const RemoteMemory& mem) {
  // Pages prepare() copied that are still there and unwritten since: that copy stands.
  // Pages it copied that are gone now (dropped) are neither kept nor referenced.
  const auto& pre = tracking_->precopied;
  auto first = std::lower_bound(pre.begin(), pre.end(), v.start,
                                [](const ProcessTracking::Copied& c, uint64_t a) { return c.addr < a; });
  std::vector<PageRange> copied;
  for (auto it = first; it != pre.end() && it->addr < v.end; ++it)
    copied.push_back({it->addr, it->addr + it->count * kPageSize});
  for (const PageRange& k : intersect_ranges(copied, unchanged)) {
    auto c = std::upper_bound(first, pre.end(), k.start,
                              [](uint64_t a, const ProcessTracking::Copied& x) { return a < x.addr; }) - 1;
    tracking_->copied.push_back({k.start, (k.end - k.start) / kPageSize, c->at + (k.start - c->addr), c->anon});
  }
  std::vector<PageRange> rest = subtract_ranges(unchanged, copied);
  if (tracking_->committed.empty()) {
    // No image to refer to (the process was armed since the last checkpoint): a page the
    // copy ahead missed is read now.
    copy_now(v, rest, mem);
    return;
  }
  // Every other page that still holds data of the process's own is what the last image
  // (or one it refers to) already holds.
  for (const PageRange& r : rest) tracking_->unchanged.push_back(r);
}

std::optional<DirtyTracker::Pages> ProcessCapture::scan_written(const Vma& v, int pagemap) {
  // Only anonymous mappings hold nothing but the process's own pages; elsewhere a page can
  // fall back to the file's or the shared object's copy.
  bool file_backed = v.kind != VmaKind::kAnon;
  DirtyTracker& t = *tracking_->tracker;
  // A big mapping is scanned in two halves at once (the session is held, the other core
  // idle). If either half is not tracked the mapping is read in full, so pages the other
  // half protected again are not lost.
  constexpr uint64_t kSplitBytes = 64ull << 20;
  if (v.end - v.start < kSplitBytes) return t.take_written(pagemap, v.start, v.end, file_backed);
  uint64_t mid = v.start + (v.end - v.start) / 2 / kPageSize * kPageSize;
  auto high = std::async(std::launch::async,
                         [&] { return t.take_written(pagemap, mid, v.end, file_backed); });
  auto low = t.take_written(pagemap, v.start, mid, file_backed);
  auto high_pages = high.get();
  if (!low || !high_pages) return std::nullopt;
  for (const PageRange& r : high_pages->written) low->written.push_back(r);
  for (const PageRange& r : high_pages->unchanged) low->unchanged.push_back(r);
  return low;
}

void ProcessCapture::start_tracking(const Vma& v) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!tracking_->tracker)
      tracking_->tracker = std::make_unique<DirtyTracker>(pid_, *injector(threads_[0]));
    switch (tracking_->tracker->track(v.start, v.end)) {
      case DirtyTracker::Track::kTracked:
      case DirtyTracker::Track::kUntrackable:  // read in full at every checkpoint
        return;
      case DirtyTracker::Track::kMmGone:  // exec'd: the tracker watched the old mm
        tracking_->tracker.reset();
        break;
    }
  }
}

void ProcessCapture::window_pages(ProcessState& p, const RemoteMemory& mem, int pagemap,
                                  const std::string& pm, PageRange window, uint64_t eof, bool anon,
                                  std::vector<uint64_t>& entries) {
  uint64_t start = window.start, end = window.end;
  uint64_t n = (end - start) / kPageSize;
  entries.resize(n);
  uint64_t off = start / kPageSize * sizeof(uint64_t);
  size_t want = n * sizeof(uint64_t), got = 0;
  while (got < want) {
    ssize_t r = ::pread(pagemap, reinterpret_cast<char*>(entries.data()) + got, want - got,
                        static_cast<off_t>(off + got));
    if (r <= 0) throw_errno("read", pm, r < 0 ? errno : EIO);
    got += static_cast<size_t>(r);
  }
  // A page is saved when it was ever touched and, in a file mapping, no longer is the
  // file's own page (it was copied on write). Anonymous zero pages are not saved: revive
  // maps anonymous memory zero-filled.
  auto wanted = [&](uint64_t i) {
    uint64_t e = entries[i];
    if (!(e & (compat::kPagemapPresent | compat::kPagemapSwapped))) return false;
    if (start + i * kPageSize >= eof && !(e & compat::kPagemapPresent)) return false;
    return anon || !(e & compat::kPagemapFileOrShared);
  };
  for (uint64_t i = 0; i < n;) {
    if (!wanted(i)) {
      ++i;
      continue;
    }
    uint64_t j = i;
    while (j < n && wanted(j)) ++j;
    // Read the whole run into its extent at once; only when it holds zero pages is it cut.
    PageExtent run{start + i * kPageSize, j - i, std::string((j - i) * kPageSize, '\0'), Crid{}, 0};
    mem.read_into(RemotePtr{run.addr}, run.data.data(), run.data.size());
    i = j;
    std::vector<bool> zero(run.count, false);
    bool any_zero = false;
    if (anon)
      for (uint64_t k = 0; k < run.count; ++k)
        any_zero |= zero[k] = all_zero(run.data.data() + k * kPageSize, kPageSize);
    if (!any_zero) {
      p.pages.push_back(std::move(run));
      continue;
    }
    for (uint64_t k = 0; k < run.count;) {
      if (zero[k]) {
        ++k;
        continue;
      }
      uint64_t m = k;
      while (m < run.count && !zero[m]) ++m;
      p.pages.push_back(PageExtent{run.addr + k * kPageSize, m - k,
                                   run.data.substr(k * kPageSize, (m - k) * kPageSize), Crid{}, 0});
      k = m;
    }
  }
}

void ProcessCapture::shmem_object(const std::string& path, uint64_t id,
                                  const std::string& link_text, TreeState& tree) {
  for (const ShmemState& s : tree.shmems)
    if (s.id == id) return;
  // Opening the map_files or fd link gives the object itself, readable from here.
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", path);
  struct stat sb;
  if (::fstat(fd.get(), &sb) < 0) throw_errno("fstat", path);
  ShmemState sh;
  sh.id = id;
  sh.size = static_cast<uint64_t>(sb.st_size);
  const std::string deleted = " (deleted)";
  std::string bare = link_text.substr(0, link_text.size() - deleted.size());
  sh.anonymous = link_text.rfind("/dev/zero", 0) == 0;
  if (link_text.rfind("/memfd:", 0) == 0) {
    sh.name = bare.substr(7);
  } else if (!sh.anonymous) {
    if (!S_ISREG(sb.st_mode))
      throw Error(name() + ": " + link_text + " is deleted and not a regular file (not supported)");
    sh.path = relative(bare, "deleted file");
    sh.mode = sb.st_mode & 07777;
  }
  // Only the data the object holds: holes (never written) are skipped, and so are pages
  // of zeros.
  std::string page(kPageSize, '\0');
  off_t pos = 0;
  while (static_cast<uint64_t>(pos) < sh.size) {
    off_t data = ::lseek(fd.get(), pos, SEEK_DATA);
    if (data < 0) break;  // ENXIO: only a hole is left
    off_t hole = ::lseek(fd.get(), data, SEEK_HOLE);
    if (hole < 0) throw_errno("lseek(SEEK_HOLE)", path);
    for (off_t at = data / kPageSize * kPageSize; at < hole; at += kPageSize) {
      ssize_t n = ::pread(fd.get(), page.data(), kPageSize, at);
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
  tree.shmems.push_back(std::move(sh));
}

PipeState ProcessCapture::pipe_contents(int fd, uint64_t id) const {
  // Open the pipe anew through /proc and tee() its buffer into a private pipe: the bytes are
  // copied without being consumed, and nothing runs inside the frozen process.
  std::string link = proc(pid_) + "/fd/" + std::to_string(fd);
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
    throw Error(name() + ": fd " + std::to_string(fd) + ": copied " + std::to_string(n) +
                " of the " + std::to_string(queued) + " bytes in flight in its pipe");
  ps.data.resize(static_cast<size_t>(n));
  if (::read(r.get(), ps.data.data(), ps.data.size()) != n) throw_errno("read", "capture buffer");
  return ps;
}

void ProcessCapture::files(ProcessState& p, TreeState& tree) {
  for (int fd : procfs::fds(pid_)) {
    std::string link_path = proc(pid_) + "/fd/" + std::to_string(fd);
    std::string target = procfs::read_link(link_path);
    std::string what = "fd " + std::to_string(fd) + " (" + target + ")";
    auto info = procfs::fdinfo(pid_, fd);
    FdState f;
    f.fd = fd;
    f.cloexec = (info.flags & O_CLOEXEC) != 0;
    f.flags = info.flags & ~static_cast<uint32_t>(O_CLOEXEC);
    f.pos = info.pos;
    if (ObjectCapture::handles(target)) {
      objects_.capture({pid_, name(), fd, target}, f);
    } else if (target.rfind("pipe:[", 0) == 0) {
      f.kind = FdKind::kPipe;
      f.pipe_id = std::strtoull(target.c_str() + 6, nullptr, 10);
      bool seen = false;
      for (const PipeState& ps : tree.pipes) seen = seen || ps.id == f.pipe_id;
      if (!seen) tree.pipes.push_back(pipe_contents(fd, f.pipe_id));
    } else if (!target.empty() && target[0] == '/' && ends_with(target, " (deleted)")) {
      // memfds, and regular files unlinked while open: the contents go into the image.
      struct stat sb;
      if (::stat(link_path.c_str(), &sb) < 0) throw_errno("stat", link_path);
      if (!S_ISREG(sb.st_mode))
        throw Error(name() + ": " + what + " is a deleted non-regular file (not supported yet)");
      f.kind = FdKind::kShmem;
      f.shmem_id = sb.st_ino;
      shmem_object(link_path, f.shmem_id, target, tree);
    } else if (!target.empty() && target[0] == '/') {
      struct stat sb;
      if (::stat(link_path.c_str(), &sb) < 0) throw_errno("stat", link_path);
      if (S_ISFIFO(sb.st_mode)) {
        // A named FIFO is a pipe with a name: its bytes in flight are kept like a pipe's.
        f.kind = FdKind::kPipe;
        f.pipe_id = sb.st_ino;
        f.path = relative(target, "fd " + std::to_string(fd));
        bool seen = false;
        for (const PipeState& ps : tree.pipes) seen = seen || ps.id == f.pipe_id;
        if (!seen) {
          tree.pipes.push_back(pipe_contents(fd, f.pipe_id));
          tree.pipes.back().path = f.path;
        }
        p.fds.push_back(std::move(f));
        continue;
      }
      bool dev_ok = S_ISCHR(sb.st_mode) &&
                    (target == "/dev/null" || target == "/dev/zero" || target == "/dev/urandom" ||
                     target == "/dev/random" || target == "/dev/full" || target == "/dev/tty");
      if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode) && !dev_ok) {
        const char* kind = S_ISCHR(sb.st_mode)   ? "a character device (tty, pty, ...)"
                           : S_ISBLK(sb.st_mode) ? "a block device"
                                                 : "a special file";
        throw Error(name() + ": " + what + " is " + kind + ", not supported yet");
      }
      f.kind = FdKind::kFile;
      f.path = relative(target, "fd " + std::to_string(fd));
    } else {
      throw Error(name() + ": " + what + " is not supported yet");
    }
    p.fds.push_back(std::move(f));
  }
}

}  // namespace deja::kmod
