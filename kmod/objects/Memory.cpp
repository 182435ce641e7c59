// A process's address space: its mappings (with madvise/mlock state), the vDSO block, the
// mm layout (code, data, brk, stack, arguments, environment, auxv). Pages are Pages.cpp's.
#include <fcntl.h>
#include <linux/prctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <optional>

#include "base/Error.h"
#include "base/Files.h"
#include "kmod/ImageFormat.h"
#include "kmod/KernelCompat.h"
#include "kmod/PageTracking.h"
#include "kmod/ProcFs.h"
#include "kmod/inject/Parasite.h"
#include "kmod/inject/ParasiteLayout.h"
#include "kmod/objects/Objects.h"

namespace deja::kmod {

namespace {

// A mapped file's modification time, as capture records it and revive checks it.
uint64_t mtime_ns(const struct stat& sb) {
  return static_cast<uint64_t>(sb.st_mtim.tv_sec) * 1000000000ull +
         static_cast<uint64_t>(sb.st_mtim.tv_nsec);
}

bool overlaps(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  return a < d && c < b;
}

struct Block {
  uint64_t start = 0, end = 0;
  std::vector<uint64_t> sizes;  // [vvar], [vvar_vclock], [vdso] in address order
};

Block image_vdso_block(const ProcessState& p) {
  Block b;
  for (const Vma& v : p.vmas) {
    if (v.kind != VmaKind::kVvar && v.kind != VmaKind::kVvarVclock && v.kind != VmaKind::kVdso)
      continue;
    if (!b.start) b.start = v.start;
    b.end = v.end;
    b.sizes.push_back(v.end - v.start);
  }
  return b;
}

Block live_vdso_block(HostPid pid) {
  Block b;
  for (const auto& m : procfs::maps(pid)) {
    if (m.path != "[vvar]" && m.path != "[vvar_vclock]" && m.path != "[vdso]") continue;
    if (!b.start) b.start = m.start;
    b.end = m.end;
    b.sizes.push_back(m.end - m.start);
  }
  return b;
}

// The madvise/mlock state of a mapping from its VmFlags ("rd wr mr mw me ac ...").
uint32_t advice(const CaptureContext& c, const std::string& flags, const procfs::MapsEntry& m) {
  using procfs::vm_flag;
  uint32_t out = 0;
  procfs::for_each_vm_flag(flags, [&](uint16_t f) {
    switch (f) {
      case vm_flag("dc"): out |= kAdviceDontFork; break;
      case vm_flag("wf"): out |= kAdviceWipeOnFork; break;
      case vm_flag("dd"): out |= kAdviceDontDump; break;
      case vm_flag("hg"): out |= kAdviceHugePage; break;
      case vm_flag("nh"): out |= kAdviceNoHugePage; break;
      case vm_flag("mg"): out |= kAdviceMergeable; break;
      case vm_flag("sr"): out |= kAdviceSequential; break;
      case vm_flag("rr"): out |= kAdviceRandom; break;
      case vm_flag("lo"): out |= kAdviceLocked; break;
      case vm_flag("ac"): out |= kAdviceAccounted; break;
      case vm_flag("uw"):
        // Write-protect registration is what this recorder's own dirty tracker makes: a
        // process holding a userfaultfd of its own is refused by its fd anyway.
        if (c.tracking) break;
        [[fallthrough]];
      case vm_flag("um"):
      case vm_flag("ui"):
        throw Error(c.name() + ": mapping " + procfs::describe(m) +
                    " is registered with a userfaultfd (not supported yet)");
    }
  });
  return out;
}

// The smaps entry of each of `maps` from `smaps` (both in address order; kNoSmaps for a
// mapping that is not there).
const procfs::SmapsEntry kNoSmaps{{}, "", ~0ull};  // never "only file pages"
std::vector<const procfs::SmapsEntry*> smaps_by_mapping(
    const std::vector<procfs::MapsEntry>& maps, const std::vector<procfs::SmapsEntry>& smaps) {
  std::vector<const procfs::SmapsEntry*> out;
  size_t j = 0;
  for (const procfs::MapsEntry& m : maps) {
    while (j < smaps.size() && smaps[j].map.start < m.start) ++j;
    out.push_back(j < smaps.size() && smaps[j].map.start == m.start ? &smaps[j] : &kNoSmaps);
  }
  return out;
}


}  // namespace

struct stat MappedFileStats::get(HostPid pid, const procfs::MapsEntry& m) {
  Key key{m.dev_major, m.dev_minor, m.inode};
  {
    std::lock_guard lock(mu_);
    auto known = files_.find(key);
    if (known != files_.end() && known->second.handle) {
      File& f = known->second;
      if (!std::exchange(f.asked, true) && ::fstat(f.handle.get(), &f.sb) < 0) {
        int err = errno;
        files_.erase(known);
        throw_errno("fstat", "the file of " + procfs::describe(m), err);
      }
      return f.sb;
    }
    if (known != files_.end() && known->second.asked) return known->second.sb;
  }
  File f;
  f.met_at = procfs::map_file_path(pid, m.start, m.end);
  if (::stat(f.met_at.c_str(), &f.sb) < 0) throw_errno("stat", f.met_at);
  f.asked = true;
  std::lock_guard lock(mu_);
  return files_.insert_or_assign(key, std::move(f)).first->second.sb;
}

void MappedFileStats::open_new_files() {
  std::lock_guard lock(mu_);
  for (auto& [key, f] : files_) {
    if (f.met_at.empty()) continue;
    ScopedFd handle(::open(f.met_at.c_str(), O_PATH | O_CLOEXEC));
    f.met_at.clear();
    struct stat sb;
    // The mapping may show another file by now: only the same inode is kept.
    if (handle && ::fstat(handle.get(), &sb) == 0 && sb.st_dev == f.sb.st_dev &&
        sb.st_ino == f.sb.st_ino)
      f.handle = std::move(handle);
  }
}

void MappedFileStats::next_capture() {
  std::lock_guard lock(mu_);
  forget_unasked(files_);
}

void capture_mm_layout(CaptureContext& c, ProcessState& p) {
  const procfs::Stat& stat = c.stat;
  p.mm.start_code = stat.start_code;
  p.mm.end_code = stat.end_code;
  p.mm.start_stack = stat.start_stack;
  p.mm.start_data = stat.start_data;
  p.mm.end_data = stat.end_data;
  p.mm.start_brk = stat.start_brk;
  p.mm.arg_start = stat.arg_start;
  p.mm.arg_end = stat.arg_end;
  p.mm.env_start = stat.env_start;
  p.mm.env_end = stat.env_end;
  p.mm.auxv = read_file(procfs::path(c.pid, "auxv"));
}

void ask_brk(std::vector<Query>& queries, ProcessState& p) {
  queries.push_back({"brk", SYS_brk, {0}, -1, [&p](long r, const char*) {
                       p.mm.brk = static_cast<uint64_t>(r);
                     }});
}

namespace {

// A segment is attached whole by shmat: each attach must be all of it, in pieces that follow
// each other (mprotect splits one), so that one shmat at revive gives back the same mappings.
void check_sysv_attaches(const CaptureContext& c, const std::vector<Vma>& vmas) {
  const Vma* first = nullptr;  // of the attach being followed
  uint64_t next = 0;           // where its next piece must start
  auto end_attach = [&] {
    if (first && next - first->start != (first->file_size + kPageSize - 1) / kPageSize * kPageSize)
      throw Error(c.name() + ": System V shared memory segment " +
                  std::to_string(first->shmem_id) + " is attached in part at " +
                  hex_address(first->start) + " (not supported yet)");
    first = nullptr;
  };
  for (const Vma& v : vmas) {
    bool continues = first && v.kind == VmaKind::kSysvShm && v.shmem_id == first->shmem_id &&
                     v.start == next && v.pgoff == next - first->start;
    if (!continues) end_attach();
    if (v.kind != VmaKind::kSysvShm) continue;
    if (!continues) {
      if (v.pgoff != 0)
        throw Error(c.name() + ": System V shared memory segment " + std::to_string(v.shmem_id) +
                    " is attached in part at " + hex_address(v.start) + " (not supported yet)");
      first = &v;
    }
    next = v.end;
  }
  end_attach();
}

}  // namespace

void capture_mappings(CaptureContext& c, ProcessState& p) {
  if (!c.maps && c.tracking) c.maps = c.tracking->unchanged_mappings();
  std::vector<procfs::MapsEntry> maps = c.maps ? std::move(*c.maps) : procfs::maps(c.pid);
  c.maps.reset();
  std::vector<procfs::SmapsEntry> smaps;  // read now when those read ahead do not fit
  std::optional<std::vector<const procfs::SmapsEntry*>> entries;
  if (c.tracking) entries = c.tracking->flags_for(maps);
  if (!entries) {
    smaps = procfs::smaps(c.pid);
    entries = smaps_by_mapping(maps, smaps);
  }
  c.file_pages_only.clear();
  MappedFileStats own_files;
  MappedFileStats& files = c.mapped_files ? *c.mapped_files : own_files;
  for (size_t i = 0; i < maps.size(); ++i) {
    const procfs::MapsEntry& m = maps[i];
    const procfs::SmapsEntry& entry = *(*entries)[i];
    const std::string& vm_flags = entry.flags;
    // Built only for an error: a desktop's capture goes through 2,000 mappings.
    auto what = [&] { return "mapping " + procfs::describe(m); };
    Vma v;
    v.start = m.start;
    v.end = m.end;
    v.prot = (m.perms[0] == 'r' ? PROT_READ : 0) | (m.perms[1] == 'w' ? PROT_WRITE : 0) |
             (m.perms[2] == 'x' ? PROT_EXEC : 0);
    bool shared = m.perms[3] == 's';
    v.flags = shared ? MAP_SHARED : MAP_PRIVATE;
    v.pgoff = m.offset;
    if (m.path == "[vsyscall]") continue;  // fixed by the kernel, present in every process
    if (c.tracking && c.tracking->parasite && c.tracking->parasite->contains(m.start)) {
      // The engine's own pages: never part of the process's image.
      if (m.end > c.tracking->parasite->code.addr + DEJA_PARASITE_SIZE)
        throw Error(c.name() + ": " + what() + " grew over the engine's pages");
      continue;
    }
    if (!m.path.empty() && m.path[0] == '/') {
      // Before anything stats the file (here or in the shared-memory capture).
      auto fs = c.mounts->by_dev.find({m.dev_major, m.dev_minor});
      if (fs != c.mounts->by_dev.end() && procfs::served_by_a_program(fs->second))
        refuse_program_served_file(c, what(), m.path, fs->second);
    }
    if (m.path == "[vvar]") {
      v.kind = VmaKind::kVvar;
    } else if (m.path == "[vvar_vclock]") {
      v.kind = VmaKind::kVvarVclock;
    } else if (m.path == "[vdso]") {
      v.kind = VmaKind::kVdso;
    } else if (procfs::anonymous(m)) {
      if (shared)
        throw Error(c.name() + ": " + what() + " is shared anonymous memory (not supported yet)");
      if (m.inode != 0)
        throw Error(c.name() + ": " + what() +
                    " is an anonymous mapping of an inode (not supported)");
      v.kind = VmaKind::kAnon;
      v.flags |= MAP_ANONYMOUS;
      if (m.path == "[stack]") v.flags |= MAP_GROWSDOWN;
      v.pgoff = 0;
    } else if ((m.path.starts_with("/dev/zero") || m.path.starts_with("/memfd:")) &&
               m.path.ends_with(" (deleted)")) {
      // Shared anonymous memory and memfds are shmem objects; the pages live with the
      // object, once per tree (private COW pages of a private mapping stay with the process).
      v.kind = VmaKind::kShmem;
      v.shmem_id = m.inode;
      v.path = m.path;
    } else if (m.path.starts_with("/SYSV")) {
      // A System V segment, kept once per tree with its id (SysvIpc.cpp); maps shows its
      // shmid as the inode, and the map_files link its size.
      v.kind = VmaKind::kSysvShm;
      v.shmem_id = m.inode;
      v.path = m.path;
      std::string mf = procfs::map_file_path(c.pid, m.start, m.end);
      struct stat sb;
      if (::stat(mf.c_str(), &sb) < 0) throw_errno("stat", mf);
      v.file_size = static_cast<uint64_t>(sb.st_size);
      // An attach that may never be written was made with SHM_RDONLY ("mw": VM_MAYWRITE).
      if (!procfs::has_vm_flag(vm_flags, procfs::vm_flag("mw")))
        v.shmat_flags = SHM_RDONLY;
    } else if (m.path[0] == '/' && m.path.ends_with(" (deleted)")) {
      // A file unlinked while mapped: its contents are kept like a shared-memory object's.
      v.kind = VmaKind::kShmem;
      v.shmem_id = m.inode;
      v.path = m.path;
    } else if (m.path[0] == '/') {
      v.kind = VmaKind::kFile;
      v.path = c.relative(m.path, "mapped file");
      // A file is mapped several times over (a library's text, data, relro...), and by
      // several processes: one stat.
      struct stat sb = files.get(c.pid, m);
      if (!S_ISREG(sb.st_mode))
        throw Error(c.name() + ": " + what() + " maps something other than a regular file");
      v.dev = sb.st_dev;
      v.inode = sb.st_ino;
      v.file_size = static_cast<uint64_t>(sb.st_size);
      v.mtime_ns = mtime_ns(sb);
    } else {
      throw Error(c.name() + ": " + what() + " is a special mapping the engine does not know");
    }
    if (v.kind == VmaKind::kAnon || v.kind == VmaKind::kFile || v.kind == VmaKind::kShmem ||
        v.kind == VmaKind::kSysvShm)
      v.advice = advice(c, vm_flags, m);
    c.file_pages_only.push_back(procfs::only_file_pages(entry));
    p.vmas.push_back(std::move(v));
  }
  check_sysv_attaches(c, p.vmas);
}

RemotePtr vdso_syscall(HostPid pid) {
  for (const auto& m : procfs::maps(pid))
    if (m.path == "[vdso]") return find_syscall_insn(pid, m.start, m.end);
  throw Error("process " + std::to_string(pid.value) + " has no [vdso]");
}

namespace {

// Any 1 MiB hole not used by the image, by the vDSO block where it is now, nor by the
// scratch area (once there is one).
uint64_t free_block(const FillContext& c, const char* what) {
  Block now = live_vdso_block(c.host);
  for (uint64_t a = 0x10000000; a + kScratchSize < compat::kTaskSize; a += kScratchSize) {
    bool clash = overlaps(a, a + kScratchSize, now.start, now.end) ||
                 (c.scratch && overlaps(a, a + kScratchSize, c.scratch, c.scratch + kScratchSize));
    for (const Vma& v : c.image.vmas)
      clash = clash || overlaps(a, a + kScratchSize, v.start, v.end);
    if (!clash) return a;
  }
  throw Error(c.name() + ": no free address range for " + what);
}

uint64_t choose_scratch(const FillContext& c) {
  return free_block(c, "the restore scratch area");
}

void move_vdso(FillContext& c) {
  Block want = image_vdso_block(c.image);
  Block now = live_vdso_block(c.host);
  if (want.sizes != now.sizes)
    throw Error(c.name() +
                ": the image's vDSO layout differs from this kernel's (captured on "
                "another kernel?)");
  if (want.start == now.start) return;
  uint64_t len = now.end - now.start;
  auto mremap_to = [&](uint64_t to) {
    c.leader().check("mremap of the vDSO block", SYS_mremap, now.start, len, len,
                     MREMAP_MAYMOVE | MREMAP_FIXED, to);
    now.start = to;
    now.end = to + len;
    // The syscall instruction moved with it.
    RemotePtr insn = vdso_syscall(c.host);
    for (auto& s : c.scopes) s->set_syscall_insn(insn);
  };
  if (overlaps(want.start, want.end, now.start, now.end)) {
    // mremap cannot move onto an overlapping range: go through a hole first.
    uint64_t hole = choose_scratch(c) + kScratchSize * 4;
    for (;; hole += len) {
      bool clash = overlaps(hole, hole + len, want.start, want.end) ||
                   overlaps(hole, hole + len, now.start, now.end);
      for (const Vma& v : c.image.vmas) clash = clash || overlaps(hole, hole + len, v.start, v.end);
      if (!clash) break;
    }
    mremap_to(hole);
  }
  mremap_to(want.start);
}

// The files a revived process maps, each opened (and checked) once however many of its
// mappings it backs (a library has four or five): fewer injected syscalls per mapping.
class MappedFiles {
 public:
  explicit MappedFiles(FillContext& c) : c_(c) {}
  ~MappedFiles() {
    try {
      for (const auto& [key, opened] : fds_)
        c_.leader().call(SYS_close, static_cast<uint64_t>(opened.fd));
    } catch (const std::exception&) {
      // The revive is failing already (the process is gone); its error is the one to tell.
    }
  }
  MappedFiles(const MappedFiles&) = delete;
  MappedFiles& operator=(const MappedFiles&) = delete;

  /// Whether opening one more file closes one of those open (whose fd a call not yet run
  /// may name).
  bool full() const { return fds_.size() >= kMaxOpen; }

  /// The remote fd of `v`'s file, opened for writing when a shared mapping writes it.
  int open(const Vma& v) {
    bool writable_shared = (v.flags & MAP_SHARED) && (v.prot & PROT_WRITE);
    auto key = std::make_pair(v.path, writable_shared);
    auto known = fds_.find(key);
    if (known != fds_.end()) {
      check_same_file(c_, known->second, v);
      return known->second.fd;
    }
    // Few processes map this many files; past it, one open file makes room.
    if (fds_.size() >= kMaxOpen) {
      c_.leader().call(SYS_close, static_cast<uint64_t>(fds_.begin()->second.fd));
      fds_.erase(fds_.begin());
    }
    RemotePtr path = c_.put_string(kScratchPath, v.path);
    long fd = c_.leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), path.addr,
                               (writable_shared ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
      throw SysError("open (in the revived process) mapped file", v.path, static_cast<int>(-fd));
    // Kept before it is looked at, so it is closed with the others if that throws.
    Opened& opened = fds_.emplace(key, Opened{static_cast<int>(fd), 0, 0, 0}).first->second;
    opened = identity(c_, static_cast<int>(fd));
    check_same_file(c_, opened, v);
    return opened.fd;
  }

 private:
  struct Opened {
    int fd;
    uint64_t inode, size, mtime_ns;
  };
  static constexpr size_t kMaxOpen = 256;

  static Opened identity(const FillContext& c, int remote_fd) {
    std::string link = procfs::fd_path(c.host, remote_fd);
    struct stat sb;
    if (::stat(link.c_str(), &sb) < 0) throw_errno("stat", link);
    return {remote_fd, sb.st_ino, static_cast<uint64_t>(sb.st_size), mtime_ns(sb)};
  }

  // The device differs in a snapshot; inode, size and mtime do not.
  static void check_same_file(const FillContext& c, const Opened& o, const Vma& v) {
    if (o.inode != v.inode || o.size != v.file_size || o.mtime_ns != v.mtime_ns)
      throw Error(c.name() + ": mapped file " + v.path +
                  " changed since the checkpoint (inode, size or modification time differ)");
  }

  FillContext& c_;
  std::map<std::pair<std::string, bool>, Opened> fds_;
};

// The mmap, mprotect and madvise calls that rebuild a process's mappings, run in batches
// from engine pages (Parasite.h) put in a hole of the image's layout: one ptrace round trip
// per DEJA_BATCH_MAX calls instead of one per call (python3 with GTK has 600 mappings). The
// pages are unmapped again when this object goes.
class MappingCalls {
 public:
  explicit MappingCalls(FillContext& c)
      : c_(c),
        pages_(install_parasite(c.threads[0], vdso_syscall(c.host),
                                free_block(c, "the engine's pages"))) {}
  ~MappingCalls() {
    try {
      c_.leader().call(SYS_munmap, pages_.code.addr, DEJA_PARASITE_SIZE);
    } catch (const std::exception&) {
      // The revive is failing already (the process is gone); its error is the one to tell.
    }
  }
  MappingCalls(const MappingCalls&) = delete;
  MappingCalls& operator=(const MappingCalls&) = delete;

  void add(std::string what, long nr, uint64_t a1, uint64_t a2, uint64_t a3 = 0, uint64_t a4 = 0,
           uint64_t a5 = 0, uint64_t a6 = 0) {
    calls_.push_back({nr, {a1, a2, a3, a4, a5, a6}});
    what_.push_back(std::move(what));
    if (calls_.size() == DEJA_BATCH_MAX) flush();
  }

  /// Runs the calls added so far; throws SysError naming the first that failed.
  void flush() {
    if (calls_.empty()) return;
    std::vector<long> results = RemoteSyscalls(c_.threads[0], pages_).run(calls_);
    std::vector<std::string> what = std::move(what_);
    calls_.clear();
    what_.clear();
    for (size_t i = 0; i < results.size(); ++i) check_injected(results[i], what[i], c_.name());
  }

 private:
  FillContext& c_;
  Parasite pages_;
  std::vector<RemoteSyscalls::Call> calls_;
  std::vector<std::string> what_;
};

void map_vma_as(FillContext& c, const Vma& v, const ShmemHolders& shmems, MappedFiles& files,
                MappingCalls& calls) {
  uint64_t len = v.end - v.start;
  uint64_t flags =
      (v.flags & (MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN)) | MAP_FIXED;
  if (v.kind == VmaKind::kAnon) {
    calls.add("mmap (anonymous) at " + hex_address(v.start), SYS_mmap, v.start, len, v.prot,
              flags, static_cast<uint64_t>(-1), 0);
    return;
  }
  if (v.kind == VmaKind::kSysvShm) {
    // One shmat per attach, at its first mapping; the rest of the attach (split by
    // mprotect) follows, and every piece gets its own protection.
    if (v.pgoff == 0) {
      long r = c.leader().call(SYS_shmat, v.shmem_id, v.start, v.shmat_flags);
      if (r < 0)
        throw SysError("shmat System V shared memory segment " + std::to_string(v.shmem_id) +
                           " at " + hex_address(v.start),
                       c.name(), static_cast<int>(-r));
    }
    calls.add("mprotect System V shared memory at " + hex_address(v.start), SYS_mprotect, v.start,
              len, v.prot);
    return;
  }
  if (v.kind == VmaKind::kShmem) {
    // Every process maps the one object its holder made, so sharing is kept; a shared
    // anonymous mapping comes back as a memfd mapping (its /proc/PID/maps name differs).
    const ShmemHolder& h = shmems.at(v.shmem_id);
    RemotePtr path = c.put_string(kScratchPath, procfs::fd_path(h.holder, h.fd));
    long fd =
        c.leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), path.addr, O_RDWR | O_CLOEXEC);
    if (fd < 0)
      throw SysError("open (in the revived process) shared memory", v.path, static_cast<int>(-fd));
    long r = c.leader().call(SYS_mmap, v.start, len, v.prot,
                             flags & ~static_cast<uint64_t>(MAP_ANONYMOUS),
                             static_cast<uint64_t>(fd), v.pgoff);
    c.leader().call(SYS_close, static_cast<uint64_t>(fd));
    if (r < 0)
      throw SysError("mmap shared memory " + v.path + " at " + hex_address(v.start), c.name(),
                     static_cast<int>(-r));
    return;
  }
  if (files.full()) calls.flush();  // the open below may close an fd a pending mmap names
  calls.add("mmap " + v.path + " at " + hex_address(v.start), SYS_mmap, v.start, len, v.prot,
            flags, static_cast<uint64_t>(files.open(v)), v.pgoff);
}

void map_vma(FillContext& c, const Vma& v, const ShmemHolders& shmems, MappedFiles& files,
             MappingCalls& calls) {
  // A private mapping that was once writable stays charged to the commit limit ("ac") after
  // an mprotect to read-only (RELRO segments, guard pages). Map it writable, then protect,
  // so the revived mapping is charged, and behaves, the same.
  bool via_writable =
      (v.flags & MAP_PRIVATE) && (v.advice & kAdviceAccounted) && !(v.prot & PROT_WRITE);
  Vma m = v;
  if (via_writable) m.prot |= PROT_WRITE;
  map_vma_as(c, m, shmems, files, calls);
  if (via_writable)
    calls.add("mprotect at " + hex_address(v.start), SYS_mprotect, v.start, v.end - v.start,
              v.prot);
}

void apply_advice(const Vma& v, MappingCalls& calls) {
  struct Advice {
    uint32_t bit;
    int madv;
    const char* what;
  };
  constexpr Advice kAdvice[] = {{kAdviceDontFork, MADV_DONTFORK, "MADV_DONTFORK"},
                                {kAdviceWipeOnFork, MADV_WIPEONFORK, "MADV_WIPEONFORK"},
                                {kAdviceDontDump, MADV_DONTDUMP, "MADV_DONTDUMP"},
                                {kAdviceHugePage, MADV_HUGEPAGE, "MADV_HUGEPAGE"},
                                {kAdviceNoHugePage, MADV_NOHUGEPAGE, "MADV_NOHUGEPAGE"},
                                {kAdviceMergeable, MADV_MERGEABLE, "MADV_MERGEABLE"},
                                {kAdviceSequential, MADV_SEQUENTIAL, "MADV_SEQUENTIAL"},
                                {kAdviceRandom, MADV_RANDOM, "MADV_RANDOM"}};
  for (const Advice& a : kAdvice)
    if (v.advice & a.bit)
      calls.add(std::string(a.what) + " at " + hex_address(v.start), SYS_madvise, v.start,
                v.end - v.start, static_cast<uint64_t>(a.madv));
  if (v.advice & kAdviceLocked)
    calls.add("mlock at " + hex_address(v.start), SYS_mlock, v.start, v.end - v.start);
}

}  // namespace

void clear_skeleton_memory(FillContext& c) {
  Block now = live_vdso_block(c.host);
  if (!now.start) throw Error(c.name() + ": skeleton has no vDSO");
  c.leader().check("munmap below the vDSO", SYS_munmap, 0, now.start);
  c.leader().check("munmap above the vDSO", SYS_munmap, now.end, compat::kTaskSize - now.end);
  move_vdso(c);

  c.scratch = choose_scratch(c);
  c.leader().check("mmap scratch", SYS_mmap, c.scratch, kScratchSize, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, static_cast<uint64_t>(-1), 0);
}

void restore_mappings(FillContext& c, const ShmemHolders& shmems) {
  // Declared first, gone last: the files stay open until every mmap naming them has run.
  MappedFiles files(c);
  MappingCalls calls(c);
  for (const Vma& v : c.image.vmas)
    if (v.kind == VmaKind::kAnon || v.kind == VmaKind::kFile || v.kind == VmaKind::kShmem ||
        v.kind == VmaKind::kSysvShm) {
      map_vma(c, v, shmems, files, calls);
      apply_advice(v, calls);
    }
  calls.flush();
}

void restore_mm_layout(FillContext& c) {
  const ProcessState& image = c.image;
  RemotePtr exe = c.put_string(kScratchPath, image.exe);
  long exe_fd =
      c.leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), exe.addr, O_RDONLY | O_CLOEXEC);
  if (exe_fd < 0)
    throw SysError("open (in the revived process) executable", image.exe,
                   static_cast<int>(-exe_fd));
  RemotePtr auxv = c.put(kScratchAuxv, image.mm.auxv);
  prctl_mm_map m{};
  m.start_code = image.mm.start_code;
  m.end_code = image.mm.end_code;
  m.start_data = image.mm.start_data;
  m.end_data = image.mm.end_data;
  m.start_brk = image.mm.start_brk;
  m.brk = image.mm.brk;
  m.start_stack = image.mm.start_stack;
  m.arg_start = image.mm.arg_start;
  m.arg_end = image.mm.arg_end;
  m.env_start = image.mm.env_start;
  m.env_end = image.mm.env_end;
  m.auxv = reinterpret_cast<__u64*>(auxv.addr);
  m.auxv_size = static_cast<__u32>(image.mm.auxv.size());
  m.exe_fd = static_cast<__u32>(exe_fd);
  RemotePtr mp =
      c.put(kScratchStruct, std::string_view(reinterpret_cast<const char*>(&m), sizeof m));
  long r = c.leader().call(SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, mp.addr, sizeof m);
  c.leader().call(SYS_close, static_cast<uint64_t>(exe_fd));
  if (r < 0) throw SysError("prctl(PR_SET_MM_MAP)", c.name(), static_cast<int>(-r));
}

void unmap_scratch(FillContext& c) {
  c.leader().check("munmap scratch", SYS_munmap, c.scratch, kScratchSize);
  c.scratch = 0;
}

}  // namespace deja::kmod
