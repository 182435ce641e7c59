#include "kmod/Restore.h"

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "base/Error.h"
#include "kmod/ImageReader.h"
#include "kmod/ProcFs.h"
#include "kmod/ProcessFill.h"
#include "kmod/objects/Objects.h"

namespace deja::kmod {

namespace {

// A zombie of the image is forked by the skeleton and exits at once, but that exit is the
// scheduler's to run and may not have happened when the skeleton reports ready. A parent's
// wait(WNOHANG) or a poll of a pidfd must find it dead as soon as the tree runs again.
void wait_until_zombie(HostPid host, VPid pid) {
  constexpr int kTries = 5000;  // of 1 ms: 5 s
  for (int i = 0; i < kTries; ++i) {
    if (procfs::stat(host).state == 'Z') return;
    timespec ms{0, 1000 * 1000};
    ::nanosleep(&ms, nullptr);
  }
  throw Error("revive: process " + std::to_string(pid.value) +
              " is a zombie in the image but its revived copy did not exit within 5 s");
}

void wait_for_skeleton(int report_fd) {
  std::string msg;
  for (;;) {
    pollfd p{report_fd, POLLIN, 0};
    int n = ::poll(&p, 1, 10000);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error("revive: the skeleton did not report within 10 s");
    char buf[512];
    ssize_t r = ::read(report_fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw_errno("read", "revive skeleton report");
    if (r == 0) {
      if (msg.empty()) throw Error("revive: the skeleton exited without reporting");
      break;
    }
    msg.append(buf, static_cast<size_t>(r));
    if (msg[0] == 'R') return;
    if (msg.back() == '\n') break;
  }
  if (!msg.empty() && msg.back() == '\n') msg.pop_back();
  throw Error("revive: " + (msg.size() > 1 ? msg.substr(1) : msg));
}

// The checksum covering each extent's mapped bytes: the record they came in, or the page
// reference that named them (TreeState::unverified). Empty once check_mapped_pages has run.
class ExtentChecks {
 public:
  explicit ExtentChecks(const std::vector<TreeState::Unverified>& unverified) {
    for (const TreeState::Unverified& u : unverified)
      for (const image::DeferredCheck& c : u.checks)
        spans_.push_back({c.payload.data(), &c, &u.image});
    std::sort(spans_.begin(), spans_.end(),
              [](const Span& a, const Span& b) { return a.begin < b.begin; });
  }

  /// Throws deja::Error naming the image and the record when `e`'s bytes are damaged or
  /// cannot be read. Needs a SigbusCaught.
  void verify(const PageExtent& e) const {
    if (spans_.empty() || e.mapped.empty()) return;  // all checked before, or inline data
    auto after = std::upper_bound(spans_.begin(), spans_.end(), e.mapped.data(),
                                  [](const char* p, const Span& s) { return p < s.begin; });
    // Every mapped byte came with a checksum: one that is missing is a bug, not damage.
    DEJA_CHECK(after != spans_.begin());
    const Span& s = *std::prev(after);
    DEJA_CHECK(e.mapped.data() + e.mapped.size() <= s.begin + s.check->payload.size());
    image::verify_one(*s.check, *s.image);
  }

 private:
  struct Span {
    const char* begin;
    const image::DeferredCheck* check;
    const std::string* image;
  };
  std::vector<Span> spans_;
};

// Every process's pages, written on two threads while the tracer goes on with the files and
// objects (process_vm_writev needs no ptrace). Each record's checksum is checked just before
// its bytes are written, so they are read from the image once and are in the cache for the
// copy; a damaged record is never written and fails the fill. Cut into pieces of a few MiB,
// so that both threads share one big process. Destroying it stops and joins the threads.
class PageWrites {
 public:
  PageWrites(const std::vector<std::unique_ptr<ProcessFill>>& fills, const TreeState& tree)
      : checks_(tree.unverified) {
    constexpr size_t kPieceExtents = 16;  // records hold up to 1 MiB each
    for (const auto& f : fills)
      for (size_t first = 0; first < f->page_extents(); first += kPieceExtents)
        pieces_.push_back({f.get(), first, std::min(f->page_extents(), first + kPieceExtents)});
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { work(); });
  }
  ~PageWrites() { stop_ = true; }
  PageWrites(const PageWrites&) = delete;
  PageWrites& operator=(const PageWrites&) = delete;

  /// Waits for every page; throws the first error a thread met.
  void wait() {
    threads_.clear();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  struct Piece {
    const ProcessFill* fill;
    size_t first, last;
  };
  void work() {
    for (size_t i; !stop_ && (i = next_++) < pieces_.size();) {
      try {
        const Piece& p = pieces_[i];
        for (size_t e = p.first; e < p.last && !stop_; ++e) {
          checks_.verify(p.fill->page_extent(e));
          p.fill->write_pages(e, e + 1);
        }
      } catch (...) {
        std::lock_guard lock(mu_);
        if (!error_) error_ = std::current_exception();
        stop_ = true;
      }
    }
  }
  ExtentChecks checks_;
  image::SigbusCaught sigbus_;  // a read of the image that fails is an error, not a crash
  std::vector<Piece> pieces_;
  std::atomic<size_t> next_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::exception_ptr error_;
  std::vector<std::jthread> threads_;  // last: joined first
};

// Namespace PID -> host PID for every process (and thread) under `init`.
std::map<VPid, HostPid> map_tasks(HostPid init, std::map<VPid, HostPid>& threads) {
  std::map<VPid, HostPid> procs;
  std::deque<HostPid> todo{init};
  std::set<HostPid> seen;
  while (!todo.empty()) {
    HostPid h = todo.front();
    todo.pop_front();
    if (!seen.insert(h).second) continue;
    procs[VPid{procfs::status(h).ns_pid}] = h;
    for (HostPid t : procfs::tasks(h)) threads[VPid{procfs::task_status(h, t).ns_pid}] = t;
    for (HostPid c : procfs::children(h)) todo.push_back(c);
  }
  return procs;
}

}  // namespace

void fill_skeleton(const TreeState& tree, HostPid init, int report_fd) {
  wait_for_skeleton(report_fd);
  std::map<VPid, HostPid> thread_hosts;
  std::map<VPid, HostPid> hosts = map_tasks(init, thread_hosts);

  int max_fd = 2;
  for (const ProcessState& p : tree.processes)
    for (const FdState& f : p.fds) max_fd = std::max(max_fd, f.fd);

  // Seize everything first: nothing of the revived tree runs until all of it is filled.
  std::vector<const ProcessState*> live;
  std::vector<HostPid> tids;  // every thread of `live`, in order
  for (const ProcessState& p : tree.processes) {
    auto h = hosts.find(p.pid);
    if (h == hosts.end())
      throw Error("revive: the skeleton lacks process " + std::to_string(p.pid.value));
    procfs::Status st = procfs::status(h->second);
    if (st.ns_sid != p.sid.value || st.ns_pgid != p.pgid.value)
      throw Error("revive: process " + std::to_string(p.pid.value) +
                  " got the wrong session or process group");
    if (p.zombie) {
      wait_until_zombie(h->second, p.pid);
      continue;
    }
    for (const ThreadState& t : p.threads) {
      auto th = thread_hosts.find(t.tid);
      if (th == thread_hosts.end())
        throw Error("revive: the skeleton lacks thread " + std::to_string(t.tid.value) +
                    " of process " + std::to_string(p.pid.value));
      tids.push_back(th->second);
    }
    live.push_back(&p);
  }
  std::vector<Tracee> seized = seize_all(tids);
  std::vector<std::unique_ptr<ProcessFill>> fills;
  std::map<VPid, ProcessFill*> by_pid;
  auto next = seized.begin();
  for (const ProcessState* p : live) {
    auto end = next + static_cast<std::ptrdiff_t>(p->threads.size());
    fills.push_back(std::make_unique<ProcessFill>(
        *p, hosts.at(p->pid),
        std::vector<Tracee>(std::make_move_iterator(next), std::make_move_iterator(end))));
    by_pid[p->pid] = fills.back().get();
    next = end;
  }

  for (auto& f : fills) f->clear();
  // System V objects too: each process attaches its segments as its memory comes back.
  restore_sysv_ipc(tree, init);
  restore_mqueues(tree, init);

  // Shared-memory objects first: mappings in any process may need them.
  std::map<uint64_t, ShmemHolder> shmems;
  auto hold_shmem = [&](uint64_t id, VPid pid) {
    if (shmems.count(id)) return;
    const ShmemState* s = nullptr;
    for (const ShmemState& x : tree.shmems)
      if (x.id == id) s = &x;
    if (!s)
      throw Error("revive: image lacks the record of shared-memory object " + std::to_string(id));
    shmems[id] = by_pid.at(pid)->hold_shmem(*s, max_fd + 1);
  };
  for (const ProcessState& p : tree.processes) {
    for (const Vma& v : p.vmas)
      if (v.kind == VmaKind::kShmem) hold_shmem(v.shmem_id, p.pid);
    for (const FdState& f : p.fds)
      if (f.kind == FdKind::kShmem) hold_shmem(f.shmem_id, p.pid);
  }
  for (auto& f : fills) f->rebuild_memory(shmems);
  PageWrites pages(fills, tree);

  // Each pipe is created in the first process that has one of its ends; every end is then
  // opened from there through /proc, which keeps pipe identity across processes.
  std::map<uint64_t, PipeHolder> pipes;
  for (const ProcessState& p : tree.processes)
    for (const FdState& f : p.fds) {
      if (f.kind != FdKind::kPipe || pipes.count(f.pipe_id)) continue;
      const PipeState* ps = nullptr;
      for (const PipeState& x : tree.pipes)
        if (x.id == f.pipe_id) ps = &x;
      if (!ps)
        throw Error("revive: image lacks the pipe record for pipe " + std::to_string(f.pipe_id));
      pipes[f.pipe_id] = by_pid.at(p.pid)->hold_pipe(*ps, max_fd + 1);
    }

  // Sockets, event fds and terminals are made in their first holder, then handed out.
  ObjectRevive objects(tree, by_pid, max_fd + 1);
  objects.create_all();
  for (auto& f : fills) f->fill_files(pipes, shmems, objects);
  pages.wait();
  for (auto& f : fills) f->fill_task();
  objects.fill_queues(pipes, shmems);  // messages may carry any fd of the tree
  objects.release_all();
  for (const auto& [id, h] : pipes) by_pid.at(h.holder)->release_pipe(h);
  for (const auto& [id, h] : shmems) by_pid.at(h.holder)->release_shmem(h);
  remove_sysv_shm(tree, init);
  for (auto& f : fills) f->finish();
  // Destroying the fills sets the image's registers and detaches, letting the tree run.
  fills.clear();
}

}  // namespace deja::kmod
