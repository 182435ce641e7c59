// The recorder's memory of a session between checkpoints, for incremental images: one dirty
// tracker per process and, per process, where every page of the last committed image lives
// (<CRID, offset, CRC32C> per page). A checkpoint then stores only the pages written since
// (capture reads them while the session is held) and refers to older images for the rest.
//
//   capture_tree(..., {crid, parent, &tracking});   // frozen: scans, reads written pages
//   thaw
//   tracking.add_references(tree);                  // the unchanged pages become references
//   ImageLayout l = encode + write + commit
//   tracking.committed(tree, l);                    // or tracking.reset() on any failure
//
// Anything that breaks the chain of protections (a failed checkpoint, the recorder
// restarting, a process exec'ing, a mapping moving) makes the affected pages count as new:
// they are read in full and stored inline again.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "kmod/DirtyTracker.h"
#include "kmod/ProcFs.h"
#include "kmod/ProcessChanges.h"
#include "kmod/TreeCodec.h"
#include "kmod/TreeState.h"
#include "kmod/inject/Parasite.h"
#include "kmod/objects/Context.h"

namespace deja::kmod {

/// Where one page of a committed image lives.
struct PageHome {
  uint64_t addr = 0;
  Crid crid;
  uint64_t offset = 0;
  uint32_t crc = 0;
};

struct ProcessTracking {
  uint64_t start_time = 0;  // /proc/PID/stat field 22: tells a reused PID apart
  std::unique_ptr<DirtyTracker> tracker;
  std::vector<PageHome> committed;  // by address
  std::vector<PageHome> base_homes;  // `committed` as of the table base image
  // Filled by the capture in progress: ranges whose pages are unchanged since `committed`,
  // and the written ones, copied to `buffer` (kept across checkpoints, so copying under the
  // freeze neither allocates nor faults).
  std::vector<PageRange> unchanged;
  struct Copied {
    uint64_t addr, count, at;
    bool anon;  // anonymous: a page of zeros is stored as nothing
  };
  std::vector<Copied> copied;
  std::vector<char> buffer;
  uint64_t copied_bytes = 0;
  // Pages written since the last checkpoint that prepare() copied (to the start of `buffer`)
  // while the session still ran, protecting them again first: the capture copies only what
  // was written after that, and keeps these copies of the pages it finds unwritten since.
  std::vector<Copied> precopied;  // by address
  uint64_t precopied_bytes = 0;
  // VmFlags of every mapping, known before the freeze: reading smaps walks every page
  // table entry (3 ms for 512 MiB resident), too slow under it. The capture takes them when
  // the mappings under the freeze are exactly these (`flags_used`); verify_flags() checks
  // after the thaw that none changed in between, and what it read there serves the next
  // checkpoint (`flags_verified`) while the mappings stay the same, so smaps is read once a
  // checkpoint, not twice. A process whose flags changed under a checkpoint (`flags_move`)
  // has them read again just before every freeze instead.
  std::vector<procfs::SmapsEntry> flags_ahead;
  // The engine's pages in the process, once installed (Parasite.h); never captured or
  // tracked.
  std::optional<Parasite> parasite;
  bool flags_used = false;
  bool flags_verified = false;
  bool flags_move = false;
  // The mappings of flags_ahead were read by prepare() after the session's MappingChanges
  // mark (`maps_after_mark`), and under the freeze the process is known not to have changed
  // them since (`maps_unchanged`): the capture takes them instead of reading maps again.
  bool maps_after_mark = false;
  bool maps_unchanged = false;
  // What the process answered the last capture's injected queries. held() finds whether it
  // has made a system call that changes them since (TaskChanges): if not
  // (`answers_unchanged`), the capture may take these instead of asking again.
  struct TaskAnswers {
    std::vector<HostPid> threads;  // host tids, in the capture's order
    std::vector<SigactionState> sigactions;
    uint64_t brk = 0, personality = 0;
    uint32_t dumpable = 0, child_subreaper = 0;
    std::string itimers;
    struct Thread {
      uint64_t clear_child_tid = 0, altstack_sp = 0, altstack_size = 0;
      uint32_t altstack_flags = 0;
    };
    std::vector<Thread> per_thread;
  };
  std::optional<TaskAnswers> answers;
  bool answers_unchanged = false;
  // Address ranges prepare() scanned whole, every mapping in them tracked (in address order).
  // While the mappings stay unchanged, the capture need not ask the kernel again.
  std::vector<PageRange> tracked_ahead;

  /// The answers the capture of this process, now with `threads`, may take instead of asking:
  /// none when it made a system call that changes them since, has other threads, or has
  /// something the kernel changes on its own (an armed interval timer, a handler reset on
  /// delivery, an alternate signal stack).
  const TaskAnswers* reusable_answers(const std::vector<HostPid>& threads) const;
  /// flags_ahead's mappings, when `maps_unchanged`.
  std::optional<std::vector<procfs::MapsEntry>> unchanged_mappings() const;
  /// Whether every mapping in [start, end) is known tracked without asking the kernel: the
  /// mappings are unchanged and prepare() scanned a range holding it whole.
  bool known_tracked(uint64_t start, uint64_t end) const;

  /// The smaps entry (VmFlags, Anonymous) of each of `mappings` (in address order), pointing
  /// into `flags_ahead`, when every one of them is there (its end may have moved); nullopt
  /// otherwise (the capture reads smaps itself).
  std::optional<std::vector<const procfs::SmapsEntry*>> flags_for(
      const std::vector<procfs::MapsEntry>& mappings);
};

class PageTracking {
 public:
  /// The state of host process `pid` (started at `start_time`), fresh when it is new to us
  /// or its PID was reused.
  ProcessTracking& process(HostPid pid, uint64_t start_time);
  /// After the thaw: adds the written pages the capture copied as inline extents, and turns
  /// the unchanged ranges it found into references to older images: into `inherited` ranges
  /// (TreeState.h) where a page's home is still the one the table base image names, into
  /// extents otherwise. Returns the number of pages referenced.
  uint64_t add_references(TreeState& tree);
  /// Images the inherited ranges of the last add_references need (the table base and where
  /// those pages live), beside those the tree's extents name.
  const std::set<uint64_t>& inherited_images() const { return inherited_images_; }
  /// `tree` was written as `layout` and committed: its pages now live where `layout` says.
  /// Processes not in `tree` are forgotten.
  void committed(const TreeState& tree, const ImageLayout& layout);
  /// Forgets everything but where the engine's pages are: the next checkpoint is a full one.
  void reset();
  /// Whether `processes` are exactly the processes of the last committed checkpoint.
  bool tracks_exactly(const std::set<HostPid>& processes) const;
  /// Pages tracked processes wrote since the last checkpoint, counting up to `limit` (a
  /// mapping new since then counts as `limit`); read-only, while the session runs.
  uint64_t written_pages(uint64_t limit);
  /// Before the freeze, while the session runs, for the session's `processes`: starts
  /// tracking those not tracked yet (arm()), reads every tracked process's VmFlags, and
  /// copies the pages it wrote since the last checkpoint (every page, for a process with no
  /// committed image) into its buffer, sized here as growing it under the freeze would fault
  /// in fresh memory there. The freeze then holds only what is written after that.
  void prepare(const std::vector<HostPid>& processes);
  /// From now on prepare() watches which processes of cgroup v2 group `cgroup_dir` change
  /// their mappings (MappingChanges.h). Throws Error saying what the kernel lacks; without it
  /// every capture reads every process's mappings under the freeze.
  void watch_mappings(const std::string& cgroup_dir);
  /// From now on the capture watches which processes of the group make a system call that
  /// changes what it asks them (ProcessChanges.h: TaskChanges), and takes the answers of the
  /// last capture for those that made none. Throws Error saying what the kernel lacks;
  /// without it every capture asks every process.
  void watch_tasks(const std::string& cgroup_dir);
  /// After a capture that asked or took every process's answers (ProcessTracking::answers),
  /// while the session is still held: system calls from now on count as changes.
  void answers_taken();
  /// Under the freeze, before anything runs in the session's processes: marks those that have
  /// not changed their mappings since prepare() read them (ProcessTracking::maps_unchanged).
  void held();
  /// After the thaw: throws Error if the VmFlags of a mapping the capture took from
  /// prepare() differ now (a madvise/mlock of a whole mapping in between): the checkpoint
  /// cannot say which it had, and must not be committed.
  void verify_flags();
  size_t processes() const { return procs_.size(); }
  /// What the session's captures read once a tree, kept from one capture to the next.
  CaptureCaches& caches() { return caches_; }
  bool empty() const { return procs_.empty(); }

 private:
  /// Gives `pid` the engine's pages and a dirty tracker, and protects its private mappings,
  /// stopping only its leader for the injected syscalls. Leaves it untracked (the capture
  /// reads it in full) when it is a vfork child, exiting, stopped, or receiving a signal.
  void arm(HostPid pid, const std::vector<HostPid>& processes);
  void precopy(HostPid pid, ProcessTracking& t);

  // Every image lists all its references (a full table) at least this often; those between
  // list only the references that changed since, and inherit the rest as address ranges:
  // tables stay small however long a session runs, and a revive reads two tables.
  static constexpr int kFullTableEvery = 16;

  std::map<HostPid, ProcessTracking> procs_;
  std::unique_ptr<MappingChanges> changes_;
  std::unique_ptr<TaskChanges> task_changes_;
  bool answers_marked_ = false;  // task_changes_ was marked after the last capture
  CaptureCaches caches_;
  Crid table_base_;  // the last image with a full table while others may inherit from it
  int since_base_ = 0;
  std::set<uint64_t> inherited_images_;
  // The engine's pages of processes forgotten by reset(), by host PID and start time: they
  // stay installed, so the next capture must know them.
  std::map<HostPid, std::pair<uint64_t, Parasite>> parasites_;
};

/// Calls `run(first, last)` for each run [first, last) of adjacent indices below `n` that
/// `in_run` accepts, in order, until `run` returns false. Runs of adjacent mappings that hold
/// pages of their own are scanned at once (holes between them do not matter).
template <typename InRun, typename Run>
void for_each_run(size_t n, InRun in_run, Run run) {
  for (size_t first = 0, i = 0; i <= n; ++i) {
    if (i < n && in_run(i)) continue;
    if (first < i && !run(first, i)) return;
    first = i + 1;
  }
}

/// The parts of `ranges` (sorted, not overlapping) inside [start, end), looked for from
/// index `at` on; `at` moves past the ranges ending before `start`, so cutting a run of
/// mappings in address order is one pass.
std::vector<PageRange> ranges_within(const std::vector<PageRange>& ranges, size_t& at,
                                     uint64_t start, uint64_t end);
/// Ranges in both sorted, non-overlapping lists.
std::vector<PageRange> intersect_ranges(const std::vector<PageRange>& a,
                                        const std::vector<PageRange>& b);
/// Ranges of `a` not in `b` (both sorted, non-overlapping).
std::vector<PageRange> subtract_ranges(const std::vector<PageRange>& a,
                                       const std::vector<PageRange>& b);

/// CRC32C of the concatenation of two byte strings, from their CRCs, when the second is
/// exactly one page long (what joining page references into extents needs).
uint32_t crc32c_append_page(uint32_t crc_before, uint32_t crc_page);

}  // namespace deja::kmod
