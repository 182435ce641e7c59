#include "kmod/ProcessCapture.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "base/Error.h"
#include "kmod/ProcFs.h"
#include "kmod/inject/Parasite.h"
#include "kmod/objects/Objects.h"

namespace deja::kmod {

std::string CaptureContext::name() const {
  return "process " + std::to_string(vpid.value) + " (" + comm + ", host pid " +
         std::to_string(pid.value) + ")";
}

std::string CaptureContext::relative(const std::string& path, const std::string& what) const {
  if (path.ends_with(" (deleted)"))
    throw Error(name() + ": " + what + " " + path +
                " is an open-but-deleted file (not supported yet)");
  if (root == "/") return path;
  if (path == root) return "/";
  if (path.compare(0, root.size() + 1, root + "/") == 0) return path.substr(root.size());
  throw Error(name() + ": " + what + " " + path + " lies outside the process's root " + root);
}

std::unique_ptr<RemoteSyscalls> CaptureContext::injector(Tracee& t) const {
  if (tracking && tracking->parasite)
    return std::make_unique<RemoteSyscalls>(t, *tracking->parasite);
  return std::make_unique<RemoteSyscalls>(t, syscall_insn);
}

ProcessCapture::ProcessCapture(HostPid pid, std::vector<Tracee>& threads,
                               const std::map<HostPid, VPid>& vpids, ObjectCapture& objects,
                               ProcessTracking* tracking)
    : ctx_{pid, threads, vpids, tracking}, objects_(objects) {
  ctx_.mapped_files = &objects.mapped_files();
}

ProcessCapture::ProcessCapture(HostPid pid, std::vector<Tracee>& threads,
                               const std::map<HostPid, VPid>& vpids, ObjectCapture& objects,
                               ProcessTracking* tracking, procfs::Status status,
                               const procfs::Stat& stat)
    : ProcessCapture(pid, threads, vpids, objects, tracking) {
  ctx_.status = std::move(status);
  ctx_.stat = stat;
  ctx_.handed_over = true;
}

ProcessCapture::~ProcessCapture() = default;

void ProcessCapture::run(ProcessState& p, TreeState& tree) {
  begin(p, /*overlap=*/false);
  finish(p, tree);
}

void ProcessCapture::begin(ProcessState& p, bool overlap) {
  capture_task(ctx_, p);  // first: it names the process for every error after it
  ctx_.mounts = objects_.mount_types().get(ctx_.pid);
  capture_mm_layout(ctx_, p);
  // A session leader gets its controlling terminal back; other members of its session
  // cannot be given one (only a leader may acquire it), so theirs is not recorded.
  if (p.sid == p.pid) {
    auto held = objects_.hold();
    p.ctty = objects_.controlling_tty(ctx_.name(), ctx_.stat.tty_nr);
  }
  capture_threads(ctx_, p);
  capture_posix_timers(ctx_, p);
  capture_pending_signals(ctx_, p);
  injected(p, overlap);  // before reading mappings: it maps and unmaps a scratch page
}

void ProcessCapture::finish(ProcessState& p, TreeState& tree) {
  // The fds first: meanwhile the process's threads get more time to run their batches.
  if (!worker_) untraced_half(p, tree);
  if (overlapped_) {
    overlapped_ = false;
    // What advance_queries() left, waited for (finish() gives up on a thread after 1 s).
    while (started_) collect_batch(started_->finish());
  }
  if (ctx_.tracking) keep_answers(p);
  auto t0 = std::chrono::steady_clock::now();
  if (worker_) {
    worker_->take(memory_job_);
  } else {
    capture_mappings(ctx_, p);
    t0 = std::chrono::steady_clock::now();
    taken_ = capture_tracked_pages(ctx_, p);
  }
  capture_untracked_pages(ctx_, p, taken_);
  pages_ms_ =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  // Most processes map no shared memory: they do not wait for the other thread's fds.
  if (std::any_of(p.vmas.begin(), p.vmas.end(),
                  [](const Vma& v) { return v.kind == VmaKind::kShmem; })) {
    auto held = objects_.hold();
    capture_mapped_shmem(ctx_, p, tree);
  }
  if (worker_) std::exchange(worker_, nullptr)->take(files_job_);
}

void ProcessCapture::hand_to(CaptureWorkerThread& thread, ProcessState& p, TreeState& tree) {
  worker_ = &thread;
  memory_job_.work = [this, &p] { read_memory(p); };
  thread.post(memory_job_);
  files_job_.work = [this, &p, &tree] { untraced_half(p, tree); };
  thread.post_spare(files_job_);
}

void ProcessCapture::read_memory(ProcessState& p) {
  capture_mappings(ctx_, p);
  taken_ = capture_tracked_pages(ctx_, p);
}

void ProcessCapture::untraced_half(ProcessState& p, TreeState& tree) {
  capture_task_files(ctx_, p);
  auto held = objects_.hold();
  files(p, tree);
}

void ProcessCapture::files(ProcessState& p, TreeState& tree) {
  for (int fd : procfs::fds(ctx_.pid)) {
    std::string target = procfs::read_link(procfs::fd_path(ctx_.pid, fd));
    auto info = procfs::fdinfo(ctx_.pid, fd);
    FdState f;
    f.fd = fd;
    f.cloexec = (info.flags & O_CLOEXEC) != 0;
    f.flags = info.flags & ~static_cast<uint32_t>(O_CLOEXEC);
    f.pos = info.pos;
    FdSite site{ctx_.pid, ctx_.name(), fd, target, std::move(info.text)};
    if (ObjectCapture::handles(target)) {
      objects_.capture(site, f);
      p.fds.push_back(std::move(f));
      continue;
    }
    if (target.starts_with("/"))
      refuse_program_served_file(ctx_, "fd " + std::to_string(fd), target,
                                 fd_fs_type(ctx_, site.fdinfo));
    if (target.starts_with("pipe:[")) {
      capture_pipe_fd(ctx_, f, target, tree);
    } else if (target.starts_with("/") && target.ends_with(" (deleted)")) {
      capture_deleted_fd(ctx_, f, target, tree);
    } else if (target.starts_with("/")) {
      capture_path_fd(ctx_, f, target, tree);
    } else {
      throw Error(ctx_.name() + ": fd " + std::to_string(fd) + " (" + target +
                  ") is not supported yet");
    }
    objects_.identify_open_file(site, f);
    p.fds.push_back(std::move(f));
  }
}

void ProcessCapture::injected(ProcessState& p, bool overlap) {
  // The engine's pages still in place, asked of the kernel for just them: the memory half
  // then reads the mappings, off this thread.
  if (ctx_.tracking && ctx_.tracking->parasite &&
      parasite_intact(ctx_.pid, *ctx_.tracking->parasite).value_or(false)) {
    // Nothing asked of a process that has made no system call changing the answers since it
    // last gave them (PageTracking::watch_tasks).
    const ProcessTracking::TaskAnswers* kept =
        p.posix_timers.empty() ? ctx_.tracking->reusable_answers(thread_ids()) : nullptr;
    if (kept) return take_kept_answers(*kept, p);
    return ask_process(p, overlap);
  }
  std::vector<procfs::MapsEntry> maps = procfs::maps(ctx_.pid);
  for (const auto& m : maps)
    if (m.path == "[vdso]") {
      ctx_.vdso_start = m.start;
      ctx_.vdso_end = m.end;
    }
  if (!ctx_.vdso_start) throw Error(ctx_.name() + ": has no [vdso] mapping to run syscalls from");
  auto find_insn = [&] {
    ctx_.syscall_insn = find_syscall_insn(ctx_.pid, ctx_.vdso_start, ctx_.vdso_end);
  };

  // Dispositions, brk and prctl state are only readable from inside the process: run the
  // syscalls there, with scratch room for their results. A recorder keeps the engine's pages
  // in each process for that (see Parasite.h).
  if (ctx_.tracking) {
    std::optional<Parasite>& parasite = ctx_.tracking->parasite;
    if (parasite && !parasite_intact(ctx_.pid, *parasite, maps)) parasite.reset();
    if (parasite) {
      // Nothing maps or unmaps from here on: the mappings read above are the capture's.
      ctx_.maps = std::move(maps);
    } else {
      find_insn();  // the engine's pages are installed from the vDSO's `syscall`
      parasite = install_parasite(ctx_.threads[0], ctx_.syscall_insn);
    }
    return ask_process(p, overlap);
  }
  find_insn();
  // A one-off capture maps a scratch page for the occasion.
  Tracee& leader = ctx_.threads[0];
  RemotePtr s{static_cast<uint64_t>(
      ctx_.injector(leader)->check("mmap", SYS_mmap, 0, kPageSize, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS, static_cast<uint64_t>(-1), 0))};
  try {
    ask_all(p, s);
  } catch (...) {
    ctx_.injector(leader)->call(SYS_munmap, s.addr, kPageSize);
    throw;
  }
  ctx_.injector(leader)->check("munmap", SYS_munmap, s.addr, kPageSize);
}

std::vector<HostPid> ProcessCapture::thread_ids() const {
  std::vector<HostPid> tids;
  for (const Tracee& t : ctx_.threads) tids.push_back(t.tid());
  return tids;
}

void ProcessCapture::take_kept_answers(const ProcessTracking::TaskAnswers& a, ProcessState& p) {
  p.sigactions = a.sigactions;
  p.mm.brk = a.brk;
  p.personality = a.personality;
  p.dumpable = a.dumpable;
  p.child_subreaper = a.child_subreaper;
  p.itimers = a.itimers;
  for (size_t i = 0; i < p.threads.size(); ++i) {
    ThreadState& th = p.threads[i];
    th.clear_child_tid = a.per_thread[i].clear_child_tid;
    th.altstack_sp = a.per_thread[i].altstack_sp;
    th.altstack_size = a.per_thread[i].altstack_size;
    th.altstack_flags = a.per_thread[i].altstack_flags;
  }
}

void ProcessCapture::keep_answers(const ProcessState& p) {
  ProcessTracking::TaskAnswers a;
  a.threads = thread_ids();
  a.sigactions = p.sigactions;
  a.brk = p.mm.brk;
  a.personality = p.personality;
  a.dumpable = p.dumpable;
  a.child_subreaper = p.child_subreaper;
  a.itimers = p.itimers;
  for (const ThreadState& th : p.threads)
    a.per_thread.push_back(
        {th.clear_child_tid, th.altstack_sp, th.altstack_size, th.altstack_flags});
  ctx_.tracking->answers = std::move(a);
}

void ProcessCapture::ask_process(ProcessState& p, bool overlap) {
  scratch_ = ctx_.tracking->parasite->scratch();
  if (!overlap) return ask_all(p, scratch_);
  // The batches run in the process while the capture turns to the next processes;
  // advance_queries() and finish() collect them. Done early, the stub waits up to 40 x 20 ms
  // for that.
  queue_queries(p);
  overlapped_ = true;
  thread_ = at_ = 0;
  start_next_batch();
}

void ProcessCapture::start_next_batch() {
  while (thread_ < thread_queries_.size() && at_ >= thread_queries_[thread_].size()) {
    // The engine's pages hold one thread's way back: the last thread's scope ends first.
    started_.reset();
    ++thread_;
    at_ = 0;
  }
  if (thread_ == thread_queries_.size()) return;
  std::vector<Query>& list = thread_queries_[thread_];
  batch_ = std::min(kQueriesAtOnce, list.size() - at_);
  if (!started_) started_ = ctx_.injector(ctx_.threads[thread_]);
  started_->start(calls_for(list, at_, batch_, scratch_), kOverlapWaitNs);
}

void ProcessCapture::collect_batch(const std::vector<long>& results) {
  take_answers(ctx_.threads[thread_], thread_queries_[thread_], at_, results, scratch_,
               RemoteMemory(ctx_.pid));
  at_ += batch_;
  start_next_batch();
}

bool ProcessCapture::advance_queries() {
  if (!started_) return true;
  if (!started_->batch_done()) return false;
  collect_batch(started_->finish());
  return !started_;
}

void ProcessCapture::queue_queries(ProcessState& p) {
  thread_queries_.assign(ctx_.threads.size(), {});
  std::vector<Query>& leader = thread_queries_[0];
  ask_sigactions(ctx_, leader, p);
  ask_brk(leader, p);
  ask_task(leader, p);
  ask_posix_timers(leader, p);
  // Per-thread state only the thread itself can report; the leader's goes with the
  // process's.
  for (size_t i = 0; i < ctx_.threads.size(); ++i)
    ask_thread(ctx_, thread_queries_[i], p.threads[i]);
}

void ProcessCapture::ask_all(ProcessState& p, RemotePtr scratch) {
  scratch_ = scratch;
  queue_queries(p);
  // Thread by thread, as the engine's pages hold one thread's way back.
  RemoteMemory mem(ctx_.pid);
  for (size_t i = 0; i < ctx_.threads.size(); ++i) ask(ctx_.threads[i], thread_queries_[i], mem);
}

std::vector<RemoteSyscalls::Call> ProcessCapture::calls_for(std::vector<Query>& queries,
                                                            size_t at, size_t n,
                                                            RemotePtr scratch) {
  std::vector<RemoteSyscalls::Call> calls;
  for (size_t i = 0; i < n; ++i) {
    Query& q = queries[at + i];
    RemoteSyscalls::Call c{q.nr, q.args};
    if (q.out_arg >= 0) c.args[static_cast<size_t>(q.out_arg)] = scratch.addr + i * kQueryOut;
    calls.push_back(c);
  }
  return calls;
}

void ProcessCapture::take_answers(Tracee& t, std::vector<Query>& queries, size_t at,
                                  const std::vector<long>& results, RemotePtr scratch,
                                  const RemoteMemory& mem) {
  size_t n = results.size();
  std::string out(n * kQueryOut, '\0');
  mem.read_into(scratch, out.data(), out.size());
  for (size_t i = 0; i < n; ++i) {
    long r = check_injected(results[i], queries[at + i].what, t.name());
    queries[at + i].take(r, out.data() + i * kQueryOut);
  }
}

void ProcessCapture::ask(Tracee& t, std::vector<Query>& queries,
                         const RemoteMemory& mem) {
  for (size_t at = 0; at < queries.size(); at += kQueriesAtOnce) {
    size_t n = std::min(kQueriesAtOnce, queries.size() - at);
    std::vector<long> results = ctx_.injector(t)->run(calls_for(queries, at, n, scratch_));
    take_answers(t, queries, at, results, scratch_, mem);
  }
}

}  // namespace deja::kmod
