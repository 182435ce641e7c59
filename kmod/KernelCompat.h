// Kernel interfaces newer than Debian 12's headers, or whose headers clash with glibc's
// (linux/ptrace.h vs sys/ptrace.h). Defined once here, with the kernel's values.
#pragma once

#include <cstdint>

// userfaultfd write-protect in async mode and the PAGEMAP_SCAN ioctl (6.7). Macros, as in
// the kernel's uapi headers, so newer system headers simply take over.
#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

#ifndef PAGEMAP_SCAN
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)

#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)

struct page_region {
  __u64 start;
  __u64 end;
  __u64 categories;
};

struct pm_scan_arg {
  __u64 size;
  __u64 flags;
  __u64 start;
  __u64 end;
  __u64 walk_end;
  __u64 vec;
  __u64 vec_len;
  __u64 max_pages;
  __u64 category_inverted;
  __u64 category_mask;
  __u64 category_anyof_mask;
  __u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

namespace deja::kmod::compat {

// linux/ptrace.h: PTRACE_GET_RSEQ_CONFIGURATION (5.13).
inline constexpr int kPtraceGetRseqConfiguration = 0x420f;
struct PtraceRseqConfiguration {
  uint64_t rseq_abi_pointer;
  uint32_t rseq_abi_size;
  uint32_t signature;
  uint32_t flags;
  uint32_t pad;
};

// linux/ptrace.h: PTRACE_PEEKSIGINFO arguments.
struct PtracePeekSiginfoArgs {
  uint64_t off;
  uint32_t flags;
  int32_t nr;
};
inline constexpr uint32_t kPeekSiginfoShared = 1;

// linux/rseq.h
inline constexpr int kRseqFlagUnregister = 1;

// linux/sched.h: struct clone_args, version 2 (with set_tid).
struct CloneArgs {
  uint64_t flags;
  uint64_t pidfd;
  uint64_t child_tid;
  uint64_t parent_tid;
  uint64_t exit_signal;
  uint64_t stack;
  uint64_t stack_size;
  uint64_t tls;
  uint64_t set_tid;
  uint64_t set_tid_size;
  uint64_t cgroup;
};

// linux/fs.h: the PROCMAP_QUERY ioctl on /proc/PID/maps (6.11): the mapping at an address,
// without reading every line.
struct ProcmapQuery {
  uint64_t size;
  uint64_t query_flags;
  uint64_t query_addr;
  uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
  uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
  uint64_t vma_name_addr, build_id_addr;
};
static_assert(sizeof(ProcmapQuery) == 104);
inline constexpr unsigned long kProcmapQuery = 0xc0686611;  // _IOWR('f', 17, 104 bytes)
inline constexpr uint64_t kProcmapVmaReadable = 0x01;
inline constexpr uint64_t kProcmapVmaWritable = 0x02;
inline constexpr uint64_t kProcmapVmaExecutable = 0x04;
inline constexpr uint64_t kProcmapVmaShared = 0x08;

// Syscall return values that never reach user space: the kernel turns them into a restart
// (include/linux/errno.h).
inline constexpr long kERestartSys = 512;
inline constexpr long kERestartNoIntr = 513;
inline constexpr long kERestartNoHand = 514;
inline constexpr long kERestartRestartBlock = 516;

// /proc/PID/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
inline constexpr uint64_t kPagemapPresent = 1ull << 63;
inline constexpr uint64_t kPagemapSwapped = 1ull << 62;
inline constexpr uint64_t kPagemapFileOrShared = 1ull << 61;

// Highest user address on x86-64 with 4-level paging.
inline constexpr uint64_t kTaskSize = 0x7ffffffff000ull;

}  // namespace deja::kmod::compat
