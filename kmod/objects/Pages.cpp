// The pages of a process's private mappings: found through /proc/PID/pagemap and read in
// full, or (a recorder's capture) only those written since the last checkpoint, with the
// rest referred to in older images. Revived by writing them back from outside.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <future>
#include <optional>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "kmod/KernelCompat.h"
#include "kmod/PageTracking.h"
#include "kmod/ProcFs.h"
#include "kmod/objects/Objects.h"

namespace deja::kmod {

namespace {

// Copies `ranges` of `v` into the tracking buffer, as pages of this capture.
void copy_now(ProcessTracking& t, const Vma& v, const std::vector<PageRange>& ranges,
              const RemoteMemory& mem) {
  // Into the process's reused buffer (no allocation or page faults here, under the freeze);
  // PageTracking::add_references turns them into extents after the thaw.
  std::vector<RemoteMemory::Piece> pieces;
  uint64_t at = t.copied_bytes;
  for (const PageRange& w : ranges) {
    t.copied.push_back({w.start, (w.end - w.start) / kPageSize, at, v.kind == VmaKind::kAnon});
    at += w.end - w.start;
  }
  if (t.buffer.size() < at) t.buffer.resize(at);
  for (const PageRange& w : ranges) {
    pieces.push_back({RemotePtr{w.start}, t.buffer.data() + t.copied_bytes, w.end - w.start});
    t.copied_bytes += w.end - w.start;
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

// Adds the pages of `v` that prepare() copied and `unchanged` says were not written since
// to the capture's copies, and the rest of `unchanged` to the pages to refer to.
void keep_precopied(ProcessTracking& t, const Vma& v, const std::vector<PageRange>& unchanged,
                    const RemoteMemory& mem) {
  // Pages prepare() copied that are still there and unwritten since: that copy stands.
  // Pages it copied that are gone now (dropped) are neither kept nor referenced.
  const auto& pre = t.precopied;
  auto first =
      std::lower_bound(pre.begin(), pre.end(), v.start,
                       [](const ProcessTracking::Copied& c, uint64_t a) { return c.addr < a; });
  std::vector<PageRange> copied;
  for (auto it = first; it != pre.end() && it->addr < v.end; ++it)
    copied.push_back({it->addr, it->addr + it->count * kPageSize});
  for (const PageRange& k : intersect_ranges(copied, unchanged)) {
    auto c =
        std::upper_bound(first, pre.end(), k.start,
                         [](uint64_t a, const ProcessTracking::Copied& x) { return a < x.addr; }) -
        1;
    t.copied.push_back(
        {k.start, (k.end - k.start) / kPageSize, c->at + (k.start - c->addr), c->anon});
  }
  std::vector<PageRange> rest = subtract_ranges(unchanged, copied);
  if (t.committed.empty()) {
    // No image to refer to (the process was armed since the last checkpoint): a page the
    // copy ahead missed is read now.
    copy_now(t, v, rest, mem);
    return;
  }
  // Every other page that still holds data of the process's own is what the last image
  // (or one it refers to) already holds.
  for (const PageRange& r : rest) t.unchanged.push_back(r);
}

// The address where the mapped bytes of vmas[first, last) are halved.
uint64_t mapped_middle(const std::vector<Vma>& vmas, size_t first, size_t last) {
  uint64_t total = 0;
  for (size_t i = first; i < last; ++i) total += vmas[i].end - vmas[i].start;
  uint64_t left = total / 2;
  for (size_t i = first; i < last; ++i) {
    uint64_t size = vmas[i].end - vmas[i].start;
    if (left < size) return vmas[i].start + left / kPageSize * kPageSize;
    left -= size;
  }
  return vmas[last - 1].end;
}

// The tracker's written and unchanged pages of vmas[first, last), a run of mappings known to
// be tracked, in address order; nullopt when some mapping is not tracked after all.
// `may_split`: the process holds enough memory for a second thread to pay off.
std::optional<DirtyTracker::Pages> scan_written(ProcessTracking& tracking,
                                                const std::vector<Vma>& vmas, size_t first,
                                                size_t last, int pagemap, bool may_split) {
  DirtyTracker& t = *tracking.tracker;
  bool file_backed = false;
  uint64_t bytes = 0;
  for (size_t i = first; i < last; ++i) {
    file_backed |= vmas[i].kind != VmaKind::kAnon;
    bytes += vmas[i].end - vmas[i].start;
  }
  uint64_t start = vmas[first].start, end = vmas[last - 1].end;
  // Much memory is scanned in two halves at once (the session is held, the other core idle).
  // Address space alone is no reason: a run of big but empty reservations scans in
  // microseconds, and the second thread's start and wait cost milliseconds on a busy machine.
  constexpr uint64_t kSplitBytes = 64ull << 20;
  if (!may_split || bytes < kSplitBytes) return t.take_written(pagemap, start, end, file_backed);
  uint64_t mid = mapped_middle(vmas, first, last);
  auto high = std::async(std::launch::async,
                         [&] { return t.take_written(pagemap, mid, end, file_backed); });
  auto low = t.take_written(pagemap, start, mid, file_backed);
  auto high_pages = high.get();
  if (!low || !high_pages) return std::nullopt;
  for (const PageRange& r : high_pages->written) low->written.push_back(r);
  for (const PageRange& r : high_pages->unchanged) low->unchanged.push_back(r);
  return low;
}

// The process's private memory in RAM (RssAnon of the status read for the capture).
uint64_t resident_anon_bytes(const CaptureContext& c) {
  return c.status.rss_anon_kib * 1024;
}

// Whether the capture stores the pages of `v` itself: private pages of the process's own.
// Shared mappings keep their data in the file or object; the vDSO block comes from the kernel.
bool holds_own_pages(const Vma& v) {
  if (v.kind != VmaKind::kAnon && v.kind != VmaKind::kFile && v.kind != VmaKind::kShmem)
    return false;
  return !(v.flags & MAP_SHARED);
}

// holds_own_pages, unless capture_mappings found it holds none.
bool may_hold_own_pages(const CaptureContext& c, const ProcessState& p, size_t i) {
  return holds_own_pages(p.vmas[i]) && !(i < c.file_pages_only.size() && c.file_pages_only[i]);
}

// Pages of the tracked mappings among vmas[first, last), scanned in one call: per-call costs,
// not page walks, dominated a desktop's 2,000 mappings scanned one at a time. The mappings
// it could not take (not tracked) are left false in `done`.
void tracked_run(ProcessTracking& t, const std::vector<Vma>& vmas, size_t first, size_t last,
                 const RemoteMemory& mem, int pagemap, bool may_split, std::vector<bool>& done) {
  if (!t.tracker || first == last) return;
  // A scan stopped by an untracked mapping has protected the pages before it again: only a
  // run known to be tracked throughout is scanned at once. Halving finds the untracked ones
  // (new since the last checkpoint) in a few checks.
  if (last - first > 1 && !t.known_tracked(vmas[first].start, vmas[last - 1].end) &&
      !t.tracker->tracks(pagemap, vmas[first].start, vmas[last - 1].end)) {
    size_t mid = first + (last - first) / 2;
    tracked_run(t, vmas, first, mid, mem, pagemap, may_split, done);
    tracked_run(t, vmas, mid, last, mem, pagemap, may_split, done);
    return;
  }
  auto scanned = scan_written(t, vmas, first, last, pagemap, may_split);
  if (!scanned) return;  // not tracked after all: read in full
  size_t written = 0, unchanged = 0;
  for (size_t i = first; i < last; ++i) {
    const Vma& v = vmas[i];
    copy_now(t, v, ranges_within(scanned->written, written, v.start, v.end), mem);
    keep_precopied(t, v, ranges_within(scanned->unchanged, unchanged, v.start, v.end), mem);
    done[i] = true;
  }
}

// Registers `v` with the dirty tracker (made, or made again after an exec, on demand).
void start_tracking(const CaptureContext& c, const Vma& v) {
  ProcessTracking& t = *c.tracking;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!t.tracker) t.tracker = std::make_unique<DirtyTracker>(c.pid, *c.injector(c.threads[0]));
    switch (t.tracker->track(v.start, v.end)) {
      case DirtyTracker::Track::kTracked:
      case DirtyTracker::Track::kUntrackable:  // read in full at every checkpoint
        return;
      case DirtyTracker::Track::kMmGone:  // exec'd: the tracker watched the old mm
        t.tracker.reset();
        break;
    }
  }
}

// Reads the pages of `window` the pagemap says hold something (not past `eof`, the address
// where a mapped file ends, unless present) into `p.pages`.
void window_pages(ProcessState& p, const RemoteMemory& mem, int pagemap, const std::string& pm,
                  PageRange window, uint64_t eof, bool anon, std::vector<uint64_t>& entries) {
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

}  // namespace

namespace {

ScopedFd open_pagemap(const CaptureContext& c, std::string& path) {
  path = procfs::path(c.pid, "pagemap");
  ScopedFd pagemap(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!pagemap) throw_errno("open", path);
  return pagemap;
}

}  // namespace

std::vector<bool> capture_tracked_pages(CaptureContext& c, ProcessState& p) {
  std::vector<bool> taken(p.vmas.size(), false);
  if (!c.tracking || !c.tracking->tracker) return taken;
  std::string pm;
  ScopedFd pagemap = open_pagemap(c, pm);
  RemoteMemory mem(c.pid);
  constexpr uint64_t kSplitResidentBytes = 64ull << 20;
  bool may_split = resident_anon_bytes(c) >= kSplitResidentBytes;
  for_each_run(
      p.vmas.size(), [&](size_t i) { return may_hold_own_pages(c, p, i); },
      [&](size_t first, size_t last) {
        tracked_run(*c.tracking, p.vmas, first, last, mem, pagemap.get(), may_split, taken);
        return true;
      });
  return taken;
}

void capture_untracked_pages(CaptureContext& c, ProcessState& p, const std::vector<bool>& taken) {
  std::string pm;
  ScopedFd pagemap = open_pagemap(c, pm);
  RemoteMemory mem(c.pid);
  std::vector<uint64_t> entries;
  for (size_t i = 0; i < p.vmas.size(); ++i) {
    const Vma& v = p.vmas[i];
    if (taken[i] || !may_hold_own_pages(c, p, i)) continue;
    bool anon = v.kind == VmaKind::kAnon;
    // New to the tracker (or moved, or the process exec'd): protect it first, then read it
    // in full while the process is still held, so no write falls in between.
    if (c.tracking) start_tracking(c, v);
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

void capture_pages(CaptureContext& c, ProcessState& p) {
  capture_untracked_pages(c, p, capture_tracked_pages(c, p));
}

void restore_pages(const FillContext& c, size_t first, size_t last) {
  for (size_t i = first; i < last; ++i) {
    const PageExtent& e = c.image.pages[i];
    if (e.data_crid.value != 0)
      throw Error(c.name() + ": pages at " + hex_address(e.addr) + " live in image CRID " +
                  std::to_string(e.data_crid.value) +
                  "; reviving incremental images is not implemented yet");
    // Straight from the mapped image when the revive left them there (one copy, page cache
    // to the process).
    c.mem.write(RemotePtr{e.addr}, e.mapped.empty() ? std::string_view(e.data) : e.mapped);
  }
}

}  // namespace deja::kmod
