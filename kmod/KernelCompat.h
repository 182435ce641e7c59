// Kernel interfaces newer than Debian 12's headers, or whose headers clash with glibc's
// (linux/ptrace.h vs sys/ptrace.h). Defined once here, with the kernel's values.
#pragma once

#include <cstdint>

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
