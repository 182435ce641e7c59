// Layout of the engine's two pages in a recorded process (see Parasite.h), shared by the
// stub's assembly and the C++ that fills its data page. Offsets are from the code page.
#pragma once

// Where the pages go when that address is free: "deja" in hex, in the gap between programs
// with their heaps (0x55...) and shared libraries (0x7f...), so that a reader of
// /proc/PID/maps can tell them apart.
#define DEJA_PARASITE_ADDR 0x64656a610000
#define DEJA_PARASITE_PAGE 0x1000
#define DEJA_PARASITE_SIZE 0x2000
// The stub: a `syscall` at the entry, the self-restore right after it.
#define DEJA_PARASITE_ENTRY 0x0
#define DEJA_PARASITE_RESTORE 0x2
// The thread's state to restore, in the data page (8 bytes each).
#define DEJA_SAVED_RAX 0x1000
#define DEJA_SAVED_RBX 0x1008
#define DEJA_SAVED_RCX 0x1010
#define DEJA_SAVED_RDX 0x1018
#define DEJA_SAVED_RSI 0x1020
#define DEJA_SAVED_RDI 0x1028
#define DEJA_SAVED_RBP 0x1030
#define DEJA_SAVED_R8 0x1038
#define DEJA_SAVED_R9 0x1040
#define DEJA_SAVED_R10 0x1048
#define DEJA_SAVED_R11 0x1050
#define DEJA_SAVED_R12 0x1058
#define DEJA_SAVED_R13 0x1060
#define DEJA_SAVED_R14 0x1068
#define DEJA_SAVED_R15 0x1070
#define DEJA_SAVED_RSP 0x1078
#define DEJA_SAVED_RIP 0x1080
#define DEJA_SAVED_RFLAGS 0x1088
#define DEJA_SAVED_SIGMASK 0x1090
#define DEJA_SAVED_END 0x1098
// The thread's scheduling while the engine runs it ahead of the engine itself (RemoteSyscalls.h):
// nonzero when the restore must set it back, then its `struct sched_attr` (56 bytes).
#define DEJA_SAVED_SCHED_SET 0x1098
#define DEJA_SAVED_SCHED 0x10a0
#define DEJA_SAVED_SCHED_END 0x10d8
// Room for injected syscalls' arguments and results.
#define DEJA_PARASITE_SCRATCH 0x1100
#define DEJA_PARASITE_SCRATCH_SIZE 0x700
// A batch of syscalls the stub runs on its own (DEJA_PARASITE_BATCH_ENTRY): how many, how
// many are done (the stub counts, the engine polls), a timespec the stub waits with once
// done, an empty signal set to wait on, then the entries (number, six arguments, result:
// 8 words each).
#define DEJA_PARASITE_BATCH_ENTRY 0x100
#define DEJA_BATCH_COUNT 0x1800
#define DEJA_BATCH_DONE 0x1808
#define DEJA_BATCH_WAIT 0x1810
#define DEJA_BATCH_NONE 0x1820
#define DEJA_BATCH_ENTRIES 0x1828
#define DEJA_BATCH_ENTRY_SIZE 0x40
#define DEJA_BATCH_MAX 27
// Waits of DEJA_BATCH_WAIT the stub makes once done before it takes the engine for gone and
// restores the thread itself.
#define DEJA_BATCH_PATIENCE 40
// The stub's own stack (popfq needs one; the thread's may not be touched).
#define DEJA_PARASITE_STACK_TOP 0x1ff0
