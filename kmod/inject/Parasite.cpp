#include "kmod/inject/Parasite.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <string>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "kmod/KernelCompat.h"
#include "kmod/inject/RemoteMemory.h"
#include "kmod/inject/RemoteSyscalls.h"
#include "kmod/inject/Tracee.h"

extern "C" const char deja_parasite_stub_begin[], deja_parasite_stub_end[];

namespace deja::kmod {

namespace {

std::string_view stub() {
  return {deja_parasite_stub_begin,
          static_cast<size_t>(deja_parasite_stub_end - deja_parasite_stub_begin)};
}

// Whether the engine's code page still holds the stub.
bool stub_in_place(HostPid pid, const Parasite& parasite) {
  std::string now(stub().size(), '\0');
  try {
    read_memory(pid, parasite.code, now.data(), now.size());
  } catch (const Error&) {
    return false;
  }
  return now == stub();
}

}  // namespace

Parasite install_parasite(Tracee& tracee, RemotePtr vdso_syscall, uint64_t fixed_at) {
  // The one syscall run from the vDSO (the window where a dying recorder would leave the
  // thread on injected registers); everything after runs from the pages themselves.
  // Else at their usual address as a hint: the kernel takes it when it is free, picks
  // another otherwise.
  long addr = RemoteSyscalls(tracee, vdso_syscall)
                  .check("mmap (engine pages)", SYS_mmap, fixed_at ? fixed_at : DEJA_PARASITE_ADDR,
                         DEJA_PARASITE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_PRIVATE | MAP_ANONYMOUS | (fixed_at ? MAP_FIXED_NOREPLACE : 0),
                         static_cast<uint64_t>(-1), 0);
  Parasite p{RemotePtr{static_cast<uint64_t>(addr)}};
  try {
    write_memory(tracee.tid(), p.code, stub());
    RemoteSyscalls rs(tracee, p);
    // Not inherited: a child forked between checkpoints is not the engine's to clean up.
    // The flag also keeps the kernel from merging the pages with a neighbouring mapping.
    rs.check("madvise(MADV_DONTFORK)", SYS_madvise, p.code.addr, DEJA_PARASITE_SIZE,
             MADV_DONTFORK);
    rs.check("mprotect (engine code page)", SYS_mprotect, p.code.addr, DEJA_PARASITE_PAGE,
             PROT_READ | PROT_EXEC);
    rs.check("mprotect (engine data page)", SYS_mprotect, p.code.addr + DEJA_PARASITE_PAGE,
             DEJA_PARASITE_PAGE, PROT_READ | PROT_WRITE);
  } catch (...) {
    RemoteSyscalls(tracee, vdso_syscall).call(SYS_munmap, p.code.addr, DEJA_PARASITE_SIZE);
    throw;
  }
  return p;
}

bool parasite_intact(HostPid pid, const Parasite& parasite,
                     const std::vector<procfs::MapsEntry>& maps) {
  bool code = false, data = false;
  for (const procfs::MapsEntry& m : maps) {
    if (m.start == parasite.code.addr && m.end == m.start + DEJA_PARASITE_PAGE)
      code = m.perms == "r-xp" && m.inode == 0;
    if (m.start == parasite.code.addr + DEJA_PARASITE_PAGE &&
        m.end == parasite.code.addr + DEJA_PARASITE_SIZE)
      data = m.perms == "rw-p" && m.inode == 0;
  }
  if (!code || !data) return false;
  return stub_in_place(pid, parasite);
}

std::optional<bool> parasite_intact(HostPid pid, const Parasite& parasite) {
  std::string path = procfs::path(pid, "maps");
  ScopedFd maps(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!maps) throw_errno("open", path);
  constexpr uint64_t kPerms = compat::kProcmapVmaReadable | compat::kProcmapVmaWritable |
                              compat::kProcmapVmaExecutable | compat::kProcmapVmaShared;
  // Whether exactly [start, end) is one anonymous private mapping with `perms`.
  auto mapped = [&](uint64_t start, uint64_t end, uint64_t perms) -> std::optional<bool> {
    compat::ProcmapQuery q{};
    q.size = sizeof q;
    q.query_addr = start;
    if (::ioctl(maps.get(), compat::kProcmapQuery, &q) < 0) {
      if (errno == ENOENT) return false;  // nothing mapped there
      if (errno == ENOTTY) return std::nullopt;
      throw_errno("ioctl(PROCMAP_QUERY)", path);
    }
    return q.vma_start == start && q.vma_end == end && (q.vma_flags & kPerms) == perms &&
           q.inode == 0;
  };
  uint64_t code = parasite.code.addr;
  auto code_ok = mapped(code, code + DEJA_PARASITE_PAGE,
                        compat::kProcmapVmaReadable | compat::kProcmapVmaExecutable);
  if (!code_ok) return std::nullopt;
  if (!*code_ok || !mapped(code + DEJA_PARASITE_PAGE, code + DEJA_PARASITE_SIZE,
                           compat::kProcmapVmaReadable | compat::kProcmapVmaWritable)
                        .value_or(false))
    return false;
  return stub_in_place(pid, parasite);
}

}  // namespace deja::kmod
