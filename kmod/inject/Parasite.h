// The engine's two pages in a recorded process: a code page holding a `syscall` and a
// self-restore (ParasiteStub.S), and a data page holding the state the thread returns to and
// scratch room for syscall results. Injected syscalls run from there rather than from the
// vDSO so that a recorder killed in the middle of one never leaves a thread running on with
// the injected registers: released by the dying tracer, the thread restores itself.
//
// Installed once per process (by the first incremental capture that meets it) through the
// vDSO's `syscall`, the one window left; kept across checkpoints, never captured (a revived
// process has none until its own recorder installs one), and not inherited (MADV_DONTFORK).
#pragma once

#include <cstdint>
#include <string_view>
#include <optional>
#include <vector>

#include "kmod/ProcFs.h"
#include "kmod/Types.h"
#include "kmod/inject/ParasiteLayout.h"

namespace deja::kmod {

class Tracee;

struct Parasite {
  RemotePtr code;  // the code page; the data page follows it

  RemotePtr entry() const { return code + DEJA_PARASITE_ENTRY; }
  RemotePtr restore() const { return code + DEJA_PARASITE_RESTORE; }
  RemotePtr at(uint64_t layout_offset) const { return code + layout_offset; }
  RemotePtr scratch() const { return code + DEJA_PARASITE_SCRATCH; }
  bool contains(uint64_t addr) const {
    return addr >= code.addr && addr < code.addr + DEJA_PARASITE_SIZE;
  }
};

/// Maps and fills the pages in the process of `tracee` (a held thread), running the syscalls
/// from the vDSO's `syscall` instruction at `vdso_syscall`. At `fixed_at` when given (the
/// mapping fails if that range is taken), else wherever the kernel finds room.
Parasite install_parasite(Tracee& tracee, RemotePtr vdso_syscall, uint64_t fixed_at = 0);

/// Whether the process `pid`, whose mappings are `maps`, still holds `parasite` as it was
/// installed (an exec, or a munmap by the program, removes it).
bool parasite_intact(HostPid pid, const Parasite& parasite,
                     const std::vector<procfs::MapsEntry>& maps);
/// The same, asking the kernel for just the two mappings (PROCMAP_QUERY) instead of reading
/// them all: nullopt on a kernel without that ioctl (before 6.11).
std::optional<bool> parasite_intact(HostPid pid, const Parasite& parasite);

}  // namespace deja::kmod
