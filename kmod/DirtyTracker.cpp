#include "kmod/DirtyTracker.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/Error.h"
#include "kmod/KernelCompat.h"

namespace deja::kmod {

namespace {

// PAGEMAP_SCAN calls, continued from walk_end until [start, end) is covered or `max_pages`
// (0: no limit) were found; `each` gets every region with its categories (neighbouring
// pages with the same categories come as one region). Returns 0 or an errno.
template <typename Each>
int scan(int pagemap, uint64_t start, uint64_t end, uint64_t flags, uint64_t inverted,
         uint64_t mask, uint64_t anyof, uint64_t returned, uint64_t max_pages, Each each) {
  uint64_t pages = 0;
  page_region regions[256];
  while (start < end) {
    pm_scan_arg arg{};
    arg.size = sizeof arg;
    arg.flags = flags;
    arg.start = start;
    arg.end = end;
    arg.vec = reinterpret_cast<uint64_t>(regions);
    arg.vec_len = 256;
    arg.max_pages = max_pages ? max_pages - pages : 0;
    arg.category_inverted = inverted;
    arg.category_mask = mask;
    arg.category_anyof_mask = anyof;
    arg.return_mask = returned;
    long n = ::ioctl(pagemap, PAGEMAP_SCAN, &arg);
    if (n < 0) return errno;
    for (long i = 0; i < n; ++i) {
      pages += (regions[i].end - regions[i].start) / kPageSize;
      each(regions[i]);
    }
    if (max_pages && pages >= max_pages) return 0;
    if (arg.walk_end <= start) break;
    start = arg.walk_end;
  }
  return 0;
}

void append(std::vector<PageRange>& out, uint64_t start, uint64_t end) {
  if (!out.empty() && out.back().end == start)
    out.back().end = end;
  else
    out.push_back({start, end});
}

}  // namespace

DirtyTracker::DirtyTracker(HostPid pid, RemoteSyscalls& rs) : pid_(pid) {
  long fd = rs.check("userfaultfd", SYS_userfaultfd, UFFD_USER_MODE_ONLY | O_CLOEXEC | O_NONBLOCK);
  ScopedFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid.value, 0)));
  int copy = pidfd ? static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), fd, 0)) : -1;
  int err = errno;
  // The process's own descriptor goes whatever happened: it must never see it.
  rs.call(SYS_close, static_cast<uint64_t>(fd));
  if (!pidfd) throw_errno("pidfd_open", name(), err);
  if (copy < 0) throw_errno("pidfd_getfd (userfaultfd)", name(), err);
  uffd_.reset(copy);
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
  if (::ioctl(uffd_.get(), UFFDIO_API, &api) != 0) throw_errno("ioctl(UFFDIO_API)", name());
}

std::string DirtyTracker::name() const {
  return "userfaultfd of host pid " + std::to_string(pid_.value);
}

DirtyTracker::Track DirtyTracker::track(uint64_t start, uint64_t end) {
  uffdio_register reg{};
  reg.range.start = start;
  reg.range.len = end - start;
  reg.mode = UFFDIO_REGISTER_MODE_WP;
  if (::ioctl(uffd_.get(), UFFDIO_REGISTER, &reg) != 0) {
    // The kernel answers ENOMEM when the userfaultfd's mm has no users left: the process
    // exec'd (or exited) since the tracker was made.
    if (errno == ENOMEM || errno == ESRCH) return Track::kMmGone;
    return Track::kUntrackable;
  }
  uffdio_writeprotect wp{};
  wp.range.start = start;
  wp.range.len = end - start;
  wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
  if (::ioctl(uffd_.get(), UFFDIO_WRITEPROTECT, &wp) != 0) {
    if (errno == ESRCH) return Track::kMmGone;
    throw_errno("ioctl(UFFDIO_WRITEPROTECT)", name());
  }
  return Track::kTracked;
}

std::optional<DirtyTracker::Pages> DirtyTracker::take_written(int pagemap, uint64_t start,
                                                              uint64_t end, bool file_backed) {
  Pages out;
  // One pass over the present pages: the kernel protects again only those it reports
  // written. A page not present (never touched, or dropped with MADV_DONTNEED after it was
  // saved) reads as zero: it is neither saved nor referenced. Pages in swap count as gone
  // too (no swap on the machines this runs on), because a page dropped under write-protect
  // leaves a marker the scan reports as swapped. Asking about file pages costs a lookup per
  // page, so only file mappings are asked.
  uint64_t shared = PAGE_IS_PFNZERO | (file_backed ? PAGE_IS_FILE : 0);
  int err = scan(pagemap, start, end, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, 0,
                 PAGE_IS_PRESENT, 0, PAGE_IS_WRITTEN | shared, 0, [&](const page_region& r) {
                   if (r.categories & PAGE_IS_WRITTEN)
                     append(out.written, r.start, r.end);
                   else if (!(r.categories & shared))
                     append(out.unchanged, r.start, r.end);
                 });
  // EPERM: some mapping of the range is not registered in async write-protect mode.
  if (err == EPERM) return std::nullopt;
  if (err) throw_errno("ioctl(PAGEMAP_SCAN)", name(), err);
  return out;
}

bool DirtyTracker::tracks(int pagemap, uint64_t start, uint64_t end) {
  // Asks for pages of mappings without write-protect: the check refuses those with EPERM,
  // and the rest are skipped whole, as no page of theirs can match.
  int err = scan(pagemap, start, end, PM_SCAN_CHECK_WPASYNC, PAGE_IS_WPALLOWED, PAGE_IS_WPALLOWED,
                 0, PAGE_IS_WPALLOWED, 0, [](const page_region&) {});
  if (err == EPERM) return false;
  if (err) throw_errno("ioctl(PAGEMAP_SCAN)", name(), err);
  return true;
}

uint64_t DirtyTracker::written(int pagemap, uint64_t start, uint64_t end, uint64_t limit) {
  uint64_t n = 0;
  int err = scan(pagemap, start, end, PM_SCAN_CHECK_WPASYNC, 0, PAGE_IS_WRITTEN, 0,
                 PAGE_IS_WRITTEN, limit,
                 [&](const page_region& r) { n += (r.end - r.start) / kPageSize; });
  if (err == EPERM) return limit;
  if (err) throw_errno("ioctl(PAGEMAP_SCAN)", name(), err);
  return std::min(n, limit);
}

}  // namespace deja::kmod
