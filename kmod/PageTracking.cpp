#include "kmod/PageTracking.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "kmod/Crc32c.h"
#include "kmod/ProcFs.h"
#include "kmod/inject/RemoteMemory.h"
#include "kmod/inject/RemoteSyscalls.h"
#include "kmod/inject/Tracee.h"

namespace deja::kmod {

namespace {

// CRC32C is linear: crc(A || B) = Z(crc(A)) ^ crc(B), where Z advances a CRC register over
// |B| zero bytes. For |B| = one page, Z is tabulated byte by byte once.
struct PageShift {
  std::array<std::array<uint32_t, 256>, 4> t;
  PageShift() {
    static const std::string zeros(kPageSize, '\0');
    for (int k = 0; k < 4; ++k)
      for (uint32_t b = 0; b < 256; ++b) {
        // crc32c() conditions its register (~ in and out); the raw shift of v is:
        uint32_t v = b << (8 * k);
        t[k][b] = ~crc32c(~v, zeros.data(), zeros.size());
      }
  }
  uint32_t operator()(uint32_t v) const {
    return t[0][v & 0xff] ^ t[1][(v >> 8) & 0xff] ^ t[2][(v >> 16) & 0xff] ^ t[3][v >> 24];
  }
};

// Mappings whose pages a capture stores (and so a tracker watches): private ones, except the
// kernel's own (vDSO block, vsyscall) and the engine's.
bool holds_private_pages(const procfs::MapsEntry& m, const ProcessTracking& t) {
  return m.perms.size() == 4 && m.perms[3] == 'p' && m.path != "[vvar]" &&
         m.path != "[vvar_vclock]" && m.path != "[vdso]" && m.path != "[vsyscall]" &&
         !(t.parasite && t.parasite->contains(m.start));
}

// VmFlags without "uw": the capture itself registers new mappings with the tracker.
std::string without_tracker_flag(const std::string& flags) {
  std::istringstream in(flags);
  std::string f, out;
  while (in >> f)
    if (f != "uw") out += f + " ";
  return out;
}

}  // namespace

uint32_t crc32c_append_page(uint32_t crc_before, uint32_t crc_page) {
  static const PageShift shift;
  return shift(crc_before) ^ crc_page;
}

ProcessTracking& PageTracking::process(HostPid pid, uint64_t start_time) {
  ProcessTracking& t = procs_[pid];
  if (t.start_time != start_time) {
    t = ProcessTracking{};
    t.start_time = start_time;
    auto kept = parasites_.find(pid);
    if (kept != parasites_.end() && kept->second.first == start_time)
      t.parasite = kept->second.second;
  }
  parasites_.erase(pid);
  t.unchanged.clear();
  t.copied.clear();
  t.copied_bytes = t.precopied_bytes;  // the capture's own copies go after prepare()'s
  return t;
}

uint64_t PageTracking::add_references(TreeState& tree) {
  uint64_t referenced = 0;
  inherited_images_.clear();
  for (ProcessState& p : tree.processes) {
    auto it = procs_.find(p.host_pid);
    if (p.zombie || it == procs_.end()) continue;
    const ProcessTracking& t = it->second;
    for (const ProcessTracking::Copied& c : t.copied) {
      const char* d = t.buffer.data() + c.at;
      auto zero = [&](uint64_t i) { return c.anon && all_zero(d + i * kPageSize, kPageSize); };
      for (uint64_t k = 0; k < c.count;) {
        if (zero(k)) {
          ++k;
          continue;
        }
        uint64_t m = k;
        while (m < c.count && !zero(m)) ++m;
        p.pages.push_back(PageExtent{c.addr + k * kPageSize, m - k,
                                     std::string(d + k * kPageSize, (m - k) * kPageSize), Crid{},
                                     0, 0});
        k = m;
      }
    }
    // All three lists are in address order: walk them together.
    size_t r = 0, b = 0;
    bool inherit = table_base_.value != 0;
    for (const PageHome& h : t.committed) {
      while (r < t.unchanged.size() && t.unchanged[r].end <= h.addr) ++r;
      if (r == t.unchanged.size()) break;
      if (h.addr < t.unchanged[r].start) continue;
      ++referenced;
      // A page whose home is still the one the table base names is only listed as a range.
      while (inherit && b < t.base_homes.size() && t.base_homes[b].addr < h.addr) ++b;
      if (inherit && b < t.base_homes.size() && t.base_homes[b].addr == h.addr &&
          t.base_homes[b].crid == h.crid && t.base_homes[b].offset == h.offset) {
        if (!p.inherited.empty() && p.inherited.back().second == h.addr)
          p.inherited.back().second += kPageSize;
        else
          p.inherited.emplace_back(h.addr, h.addr + kPageSize);
        inherited_images_.insert(h.crid.value);
        continue;
      }
      if (!p.pages.empty()) {
        PageExtent& last = p.pages.back();
        if (last.data_crid == h.crid && last.addr + last.count * kPageSize == h.addr &&
            last.data_offset + last.count * kPageSize == h.offset) {
          last.data_crc = crc32c_append_page(last.data_crc, h.crc);
          ++last.count;
          continue;
        }
      }
      p.pages.push_back(PageExtent{h.addr, 1, {}, h.crid, h.offset, h.crc});
    }
    if (!p.inherited.empty()) tree.table_base = table_base_;
  }
  if (tree.table_base.value) inherited_images_.insert(tree.table_base.value);
  return referenced;
}

void PageTracking::committed(const TreeState& tree, const ImageLayout& layout) {
  std::map<VPid, std::vector<const PageLocation*>> written;
  for (const PageLocation& l : layout.pages) written[l.pid].push_back(&l);
  std::map<HostPid, ProcessTracking> next;
  for (const ProcessState& p : tree.processes) {
    auto it = procs_.find(p.host_pid);
    if (p.zombie || it == procs_.end()) continue;
    ProcessTracking t = std::move(it->second);
    std::vector<PageHome> homes;
    for (const PageExtent& e : p.pages) {
      if (e.data_crid.value == 0) continue;
      // A referenced extent keeps the homes it was made of (same CRID, consecutive offsets).
      for (uint64_t i = 0; i < e.count; ++i) homes.push_back({e.addr + i * kPageSize, e.data_crid,
                                                               e.data_offset + i * kPageSize, 0});
    }
    // An inherited page keeps its home (the one the previous map and the base agree on).
    size_t r = 0;
    for (const PageHome& h : t.committed) {
      while (r < p.inherited.size() && p.inherited[r].second <= h.addr) ++r;
      if (r == p.inherited.size()) break;
      if (h.addr >= p.inherited[r].first) homes.push_back({h.addr, h.crid, h.offset, 0});
    }
    std::sort(homes.begin(), homes.end(),
              [](const PageHome& a, const PageHome& b) { return a.addr < b.addr; });
    // Per-page CRCs of referenced pages come from the previous map.
    if (!homes.empty()) {
      size_t j = 0;
      for (PageHome& h : homes) {
        while (j < t.committed.size() && t.committed[j].addr < h.addr) ++j;
        DEJA_CHECK(j < t.committed.size() && t.committed[j].addr == h.addr);
        h.crc = t.committed[j].crc;
      }
    }
    // Inline pages now live in this image: the writer says where.
    std::map<uint64_t, const PageExtent*> inline_by_end;
    for (const PageExtent& x : p.pages)
      if (x.data_crid.value == 0) inline_by_end[x.addr + x.count * kPageSize] = &x;
    for (const PageLocation* l : written[p.pid]) {
      auto x = inline_by_end.upper_bound(l->addr);
      DEJA_CHECK(x != inline_by_end.end() && x->second->addr <= l->addr);
      const PageExtent* e = x->second;
      for (uint64_t i = 0; i < l->count; ++i) {
        const char* d = e->data.data() + (l->addr - e->addr) + i * kPageSize;
        homes.push_back(
            {l->addr + i * kPageSize, tree.crid, l->offset + i * kPageSize, crc32c(0, d, kPageSize)});
      }
    }
    std::sort(homes.begin(), homes.end(),
              [](const PageHome& a, const PageHome& b) { return a.addr < b.addr; });
    t.committed = std::move(homes);
    if (!tree.table_base.value) t.base_homes = t.committed;  // this image is the new base
    t.unchanged.clear();
    next[p.host_pid] = std::move(t);
  }
  procs_ = std::move(next);
  // An image without inherited ranges lists every reference: the next ones inherit from it,
  // until a full table is due again.
  if (!tree.table_base.value) {
    table_base_ = tree.crid;
    since_base_ = 0;
  } else if (++since_base_ >= kFullTableEvery) {
    table_base_ = Crid{};
  }
}

void PageTracking::reset() {
  table_base_ = Crid{};
  since_base_ = 0;
  for (auto& [pid, t] : procs_)
    if (t.parasite) parasites_.insert_or_assign(pid, std::make_pair(t.start_time, *t.parasite));
  procs_.clear();
}

namespace {

// The same mapping, perhaps grown or shrunk at its end (a heap moved by brk, the part of a
// mapping left after a madvise split off its tail): the end does not change VmFlags.
bool same_but_end(const procfs::MapsEntry& a, const procfs::MapsEntry& b) {
  return a.start == b.start && a.perms == b.perms && a.offset == b.offset && a.inode == b.inode &&
         a.path == b.path;
}

// Whether `pid` has the mappings of t.flags_ahead still (their ends may have moved: brk, a
// stack growing); if so the ends are brought up to date. /proc/PID/maps costs a tenth of
// smaps, which walks the page tables.
bool same_mappings(HostPid pid, ProcessTracking& t) {
  std::vector<procfs::MapsEntry> now = procfs::maps(pid);
  if (now.size() != t.flags_ahead.size()) return false;
  for (size_t i = 0; i < now.size(); ++i)
    if (!same_but_end(now[i], t.flags_ahead[i].map)) return false;
  for (size_t i = 0; i < now.size(); ++i) t.flags_ahead[i].map.end = now[i].end;
  return true;
}

}  // namespace

std::optional<std::vector<const procfs::SmapsEntry*>> ProcessTracking::flags_for(
    const std::vector<procfs::MapsEntry>& mappings) {
  std::vector<const procfs::SmapsEntry*> out;
  out.reserve(mappings.size());
  size_t j = 0;  // both lists are in address order
  for (const procfs::MapsEntry& m : mappings) {
    while (j < flags_ahead.size() && flags_ahead[j].map.start < m.start) ++j;
    if (j == flags_ahead.size() || !same_but_end(flags_ahead[j].map, m)) return std::nullopt;
    out.push_back(&flags_ahead[j]);
  }
  flags_used = true;
  return out;
}

void PageTracking::prepare(const std::vector<HostPid>& processes) {
  for (HostPid pid : processes) {
    auto it = procs_.find(pid);
    if (it == procs_.end() || !it->second.tracker) arm(pid, processes);
  }
  caches_.mapped_files.open_new_files();
  // After arm(), which changes the mappings it protects (from the recorder, unseen there).
  if (changes_) changes_->mark();
  for (auto& [pid, t] : procs_) {
    t.flags_used = false;
    t.maps_after_mark = t.maps_unchanged = false;
    t.tracked_ahead.clear();
    t.precopied.clear();
    t.precopied_bytes = 0;
    try {
      if (!std::exchange(t.flags_verified, false) || t.flags_move || !same_mappings(pid, t))
        t.flags_ahead = procfs::smaps(pid);
      t.maps_after_mark = changes_ != nullptr;
      if (t.tracker) precopy(pid, t);
    } catch (const Error&) {
      // It exited, or exec'd: the capture sees that and reads it in full.
      t.precopied.clear();
      t.precopied_bytes = 0;
    }
  }
}

void PageTracking::watch_mappings(const std::string& cgroup_dir) {
  changes_ = std::make_unique<MappingChanges>(cgroup_dir);
}

void PageTracking::watch_tasks(const std::string& cgroup_dir) {
  task_changes_ = std::make_unique<TaskChanges>(cgroup_dir);
}

void PageTracking::held() {
  std::optional<std::set<HostPid>> changed, asked;
  if (changes_) changed = changes_->since_mark();
  // Since the last capture's mark; without one (a capture that failed), every process counts
  // as changed: the failed capture's own queries would be among the calls seen.
  if (task_changes_ && std::exchange(answers_marked_, false)) asked = task_changes_->since_mark();
  for (auto& [pid, t] : procs_) {
    t.maps_unchanged = t.maps_after_mark && changed && !changed->count(pid);
    t.answers_unchanged = t.answers && asked && !asked->count(pid);
  }
}

void PageTracking::answers_taken() {
  if (!task_changes_) return;
  task_changes_->mark();
  answers_marked_ = true;
}

const ProcessTracking::TaskAnswers* ProcessTracking::reusable_answers(
    const std::vector<HostPid>& threads) const {
  if (!answers_unchanged || answers->threads != threads) return nullptr;
  for (const SigactionState& s : answers->sigactions)
    if (s.flags & SA_RESETHAND) return nullptr;
  // A thread with an alternate stack may be running a handler on it by now (and one set
  // with SS_AUTODISARM has it disarmed meanwhile): asked again.
  for (const TaskAnswers::Thread& t : answers->per_thread)
    if (!(t.altstack_flags & SS_DISABLE)) return nullptr;
  // Armed interval timers count down: their time left is asked again.
  if (answers->itimers.find_first_not_of('\0') != std::string::npos) return nullptr;
  return &*answers;
}

bool ProcessTracking::known_tracked(uint64_t start, uint64_t end) const {
  if (!maps_unchanged) return false;
  auto after = std::upper_bound(tracked_ahead.begin(), tracked_ahead.end(), start,
                                [](uint64_t a, const PageRange& r) { return a < r.start; });
  return after != tracked_ahead.begin() && end <= std::prev(after)->end;
}

std::optional<std::vector<procfs::MapsEntry>> ProcessTracking::unchanged_mappings() const {
  if (!maps_unchanged) return std::nullopt;
  std::vector<procfs::MapsEntry> maps;
  maps.reserve(flags_ahead.size());
  for (const procfs::SmapsEntry& e : flags_ahead) maps.push_back(e.map);
  return maps;
}

void PageTracking::arm(HostPid pid, const std::vector<HostPid>& processes) {
  try {
    procfs::Stat st = procfs::stat(pid);
    if (st.state == 'Z' || st.state == 'X' || st.state == 'T' || st.state == 't') return;
    // A vfork child shares its parent's memory until it execs: left to the capture.
    for (HostPid other : processes)
      if (other != pid && ::syscall(SYS_kcmp, pid.value, other.value, KCMP_VM, 0, 0) == 0) return;
    ProcessTracking& t = process(pid, st.start_time);
    std::vector<procfs::MapsEntry> maps = procfs::maps(pid);
    {
      // Only the leader stops, for a moment; the rest of the process runs on.
      Tracee leader(pid);
      if (!t.parasite) {
        RemotePtr insn{};
        for (const procfs::MapsEntry& m : maps)
          if (m.path == "[vdso]") insn = find_syscall_insn(pid, m.start, m.end);
        if (!insn.addr) return;
        t.parasite = install_parasite(leader, insn);
      }
      RemoteSyscalls rs(leader, *t.parasite);
      t.tracker = std::make_unique<DirtyTracker>(pid, rs);
    }
    // Protected from here (a mapping made since is new to the capture, read in full there);
    // prepare() copies every page the process holds next.
    for (const procfs::MapsEntry& m : maps)
      if (holds_private_pages(m, t) &&
          t.tracker->track(m.start, m.end) == DirtyTracker::Track::kMmGone) {
        t.tracker.reset();  // it exec'd meanwhile
        return;
      }
  } catch (const Error&) {
    // Gone, exec'd, or a signal on its way in: the capture reads it in full instead.
    auto it = procs_.find(pid);
    if (it != procs_.end()) it->second.tracker.reset();
  }
}

void PageTracking::precopy(HostPid pid, ProcessTracking& t) {
  std::string pm = procfs::path(pid, "pagemap");
  ScopedFd pagemap(::open(pm.c_str(), O_RDONLY | O_CLOEXEC));
  if (!pagemap) throw_errno("open", pm);
  // A process with no committed image (armed since the last checkpoint) has every page it
  // holds copied; the others only what they wrote.
  bool all = t.committed.empty();
  const auto& maps = t.flags_ahead;
  // The pages to copy of maps[first, last) scanned at once, in address order and cut at the
  // mappings' bounds; false when a mapping of them is not tracked.
  auto take = [&](size_t first, size_t last) {
    bool file_backed = false;
    for (size_t k = first; k < last; ++k) file_backed |= !procfs::anonymous(maps[k].map);
    auto scanned = t.tracker->take_written(pagemap.get(), maps[first].map.start,
                                           maps[last - 1].map.end, file_backed);
    if (!scanned) return false;
    t.tracked_ahead.push_back({maps[first].map.start, maps[last - 1].map.end});
    std::vector<PageRange> copy = scanned->written;
    if (all) {
      copy.insert(copy.end(), scanned->unchanged.begin(), scanned->unchanged.end());
      std::sort(copy.begin(), copy.end(),
                [](const PageRange& a, const PageRange& b) { return a.start < b.start; });
    }
    size_t at = 0;
    for (size_t k = first; k < last; ++k) {
      bool anon = procfs::anonymous(maps[k].map);
      for (const PageRange& w : ranges_within(copy, at, maps[k].map.start, maps[k].map.end)) {
        t.precopied.push_back({w.start, (w.end - w.start) / kPageSize, t.precopied_bytes, anon});
        t.precopied_bytes += w.end - w.start;
      }
    }
    return true;
  };
  // Runs of tracked mappings are scanned at once, as in the capture (Pages.cpp); a run with
  // a mapping not tracked yet goes mapping by mapping (the capture reads that one in full).
  // Mappings of only the file's pages are left out, as the capture leaves them.
  auto in_run = [&](size_t i) {
    return holds_private_pages(maps[i].map, t) && !procfs::only_file_pages(maps[i]);
  };
  bool lost = false;
  for_each_run(maps.size(), in_run, [&](size_t first, size_t last) {
    if (last - first == 1 ||
        !t.tracker->tracks(pagemap.get(), maps[first].map.start, maps[last - 1].map.end)) {
      for (size_t k = first; k < last; ++k) take(k, k + 1);
      return true;
    }
    // The process runs: a mapping replaced since the check stops the scan after it has
    // protected pages it did not report. Those writes would be lost to the chain, so the
    // process starts over with a new tracker and is read in full.
    lost = !take(first, last);
    return !lost;
  });
  if (lost) {
    t.tracker.reset();
    t.precopied.clear();
    t.precopied_bytes = 0;
    return;
  }
  // Room for these and for what is written until the freeze (a few ms of the last second).
  uint64_t want = t.precopied_bytes + t.precopied_bytes / 4 + (64u << 10);
  if (t.buffer.size() < want || t.buffer.size() > 4 * want + (1u << 20))
    std::vector<char>(want).swap(t.buffer);
  std::vector<RemoteMemory::Piece> pieces;
  for (const ProcessTracking::Copied& c : t.precopied)
    pieces.push_back({RemotePtr{c.addr}, t.buffer.data() + c.at, c.count * kPageSize});
  // A write landing while this copies is caught by the capture's scan and copied again.
  RemoteMemory(pid).read_batch(pieces);
}

void PageTracking::verify_flags() {
  for (auto& [pid, t] : procs_) {
    if (!t.flags_used) continue;
    std::vector<procfs::SmapsEntry> now;
    try {
      now = procfs::smaps(pid);
    } catch (const Error&) {
      continue;  // it exited since; the image holds it as it was
    }
    // Mappings gone or replaced since cannot be compared; those still there must agree.
    std::map<uint64_t, const procfs::SmapsEntry*> by_start;
    for (const procfs::SmapsEntry& e : now) by_start[e.map.start] = &e;
    for (const procfs::SmapsEntry& e : t.flags_ahead) {
      auto it = by_start.find(e.map.start);
      if (it == by_start.end() || !same_but_end(it->second->map, e.map) ||
          it->second->flags == e.flags ||
          without_tracker_flag(it->second->flags) == without_tracker_flag(e.flags))
        continue;
      t.flags_move = true;
      throw Error("checkpoint dropped: the VmFlags of mapping " + procfs::describe(e.map) +
                  " of host pid " + std::to_string(pid.value) + " changed from '" + e.flags +
                  "' to '" + it->second->flags + "' while it was taken");
    }
    t.flags_ahead = std::move(now);
    t.flags_verified = true;
  }
}

std::vector<PageRange> ranges_within(const std::vector<PageRange>& ranges, size_t& at,
                                     uint64_t start, uint64_t end) {
  std::vector<PageRange> out;
  while (at < ranges.size() && ranges[at].end <= start) ++at;
  for (size_t i = at; i < ranges.size() && ranges[i].start < end; ++i)
    out.push_back({std::max(ranges[i].start, start), std::min(ranges[i].end, end)});
  return out;
}

std::vector<PageRange> intersect_ranges(const std::vector<PageRange>& a,
                                        const std::vector<PageRange>& b) {
  std::vector<PageRange> out;
  for (size_t i = 0, j = 0; i < a.size() && j < b.size();) {
    uint64_t lo = std::max(a[i].start, b[j].start), hi = std::min(a[i].end, b[j].end);
    if (lo < hi) out.push_back({lo, hi});
    if (a[i].end < b[j].end) ++i;
    else ++j;
  }
  return out;
}

std::vector<PageRange> subtract_ranges(const std::vector<PageRange>& a,
                                       const std::vector<PageRange>& b) {
  std::vector<PageRange> out;
  size_t j = 0;
  for (PageRange r : a) {
    while (j < b.size() && b[j].end <= r.start) ++j;
    for (size_t k = j; k < b.size() && b[k].start < r.end; ++k) {
      if (b[k].start > r.start) out.push_back({r.start, b[k].start});
      r.start = std::max(r.start, b[k].end);
    }
    if (r.start < r.end) out.push_back(r);
  }
  return out;
}

bool PageTracking::tracks_exactly(const std::set<HostPid>& processes) const {
  if (procs_.size() != processes.size()) return false;
  for (const auto& [pid, t] : procs_)
    if (!processes.count(pid)) return false;
  return true;
}

uint64_t PageTracking::written_pages(uint64_t limit) {
  uint64_t n = 0;
  for (auto& [pid, t] : procs_) {
    if (!t.tracker) return limit;
    std::string pm = procfs::path(pid, "pagemap");
    ScopedFd pagemap(::open(pm.c_str(), O_RDONLY | O_CLOEXEC));
    if (!pagemap) return limit;  // it just exited: that is a change
    try {
      // Runs of adjacent tracked mappings at once; an untracked one counts as `limit`.
      std::vector<procfs::MapsEntry> maps = procfs::maps(pid);
      for_each_run(
          maps.size(), [&](size_t i) { return holds_private_pages(maps[i], t); },
          [&](size_t first, size_t last) {
            n += t.tracker->written(pagemap.get(), maps[first].start, maps[last - 1].end,
                                    limit - n);
            return n < limit;
          });
      if (n >= limit) return limit;
    } catch (const Error&) {
      return limit;  // it exited while we looked
    }
  }
  return n;
}

}  // namespace deja::kmod
