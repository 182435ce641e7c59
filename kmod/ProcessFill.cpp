#include "kmod/ProcessFill.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <linux/prctl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include <algorithm>
#include <cstring>

#include "base/Error.h"
#include "kmod/KernelCompat.h"
#include "kmod/ProcFs.h"
#include "kmod/ProcessCapture.h"

namespace deja::kmod {

namespace {

constexpr uint64_t kScratchSize = 1 << 20;
constexpr uint64_t kScratchStruct = 0;       // structs handed to syscalls
constexpr uint64_t kScratchPath = 64 << 10;  // paths
constexpr uint64_t kScratchAuxv = 128 << 10;

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
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

uint64_t vdso_of(HostPid pid, uint64_t* end) {
  for (const auto& m : procfs::maps(pid))
    if (m.path == "[vdso]") {
      *end = m.end;
      return m.start;
    }
  throw Error("process " + std::to_string(pid.value) + " has no [vdso]");
}

}  // namespace

ProcessFill::ProcessFill(const ProcessState& image, HostPid host, std::vector<Tracee> threads)
    : image_(image), host_(host), threads_(std::move(threads)), mem_(host) {
  uint64_t vend = 0;
  uint64_t vstart = vdso_of(host_, &vend);
  RemotePtr insn = find_syscall_insn(host_, vstart, vend);
  for (Tracee& t : threads_) scopes_.push_back(std::make_unique<RemoteSyscalls>(t, insn));
}

ProcessFill::~ProcessFill() {
  // Scopes first (they set registers), then the Tracees detach.
  scopes_.clear();
}

std::string ProcessFill::name() const {
  return "revived process " + std::to_string(image_.pid.value) + " (" + image_.comm + ")";
}

RemotePtr ProcessFill::put(uint64_t offset, std::string_view data) {
  DEJA_CHECK(scratch_ != 0 && offset + data.size() <= kScratchSize);
  mem_.write(RemotePtr{scratch_ + offset}, data);
  return RemotePtr{scratch_ + offset};
}

RemotePtr ProcessFill::put_struct(std::string_view data) {
  return put(kScratchStruct, data);
}

RemotePtr ProcessFill::put_path(const std::string& path) {
  return put_string(kScratchPath, path);
}

RemotePtr ProcessFill::put_string(uint64_t offset, const std::string& s) {
  if (s.size() >= 60000) throw Error(name() + ": path too long: " + s.substr(0, 80) + "...");
  return put(offset, std::string_view(s.c_str(), s.size() + 1));
}

uint64_t ProcessFill::choose_scratch() const {
  // Any 1 MiB hole not used by the image nor by the vDSO block where it is now.
  Block now = live_vdso_block(host_);
  for (uint64_t a = 0x10000000; a + kScratchSize < compat::kTaskSize; a += kScratchSize) {
    bool clash = overlaps(a, a + kScratchSize, now.start, now.end);
    for (const Vma& v : image_.vmas) clash = clash || overlaps(a, a + kScratchSize, v.start, v.end);
    if (!clash) return a;
  }
  throw Error(name() + ": no free address range for the restore scratch area");
}

void ProcessFill::move_vdso() {
  Block want = image_vdso_block(image_);
  Block now = live_vdso_block(host_);
  if (want.sizes != now.sizes)
    throw Error(name() +
                ": the image's vDSO layout differs from this kernel's (captured on "
                "another kernel?)");
  if (want.start == now.start) return;
  uint64_t len = now.end - now.start;
  auto mremap_to = [&](uint64_t to) {
    leader().check("mremap of the vDSO block", SYS_mremap, now.start, len, len,
                   MREMAP_MAYMOVE | MREMAP_FIXED, to);
    now.start = to;
    now.end = to + len;
    // The syscall instruction moved with it.
    uint64_t vend = 0;
    uint64_t vstart = vdso_of(host_, &vend);
    RemotePtr insn = find_syscall_insn(host_, vstart, vend);
    for (auto& s : scopes_) s->set_syscall_insn(insn);
  };
  if (overlaps(want.start, want.end, now.start, now.end)) {
    // mremap cannot move onto an overlapping range: go through a hole first.
    uint64_t hole = choose_scratch() + kScratchSize * 4;
    for (;; hole += len) {
      bool clash = overlaps(hole, hole + len, want.start, want.end) ||
                   overlaps(hole, hole + len, now.start, now.end);
      for (const Vma& v : image_.vmas) clash = clash || overlaps(hole, hole + len, v.start, v.end);
      if (!clash) break;
    }
    mremap_to(hole);
  }
  mremap_to(want.start);
}

void ProcessFill::check_file(int remote_fd, const Vma& v) {
  std::string link = "/proc/" + std::to_string(host_.value) + "/fd/" + std::to_string(remote_fd);
  struct stat sb;
  if (::stat(link.c_str(), &sb) < 0) throw_errno("stat", link);
  uint64_t mtime = static_cast<uint64_t>(sb.st_mtim.tv_sec) * 1000000000ull +
                   static_cast<uint64_t>(sb.st_mtim.tv_nsec);
  // The device differs in a snapshot; inode, size and mtime do not.
  if (sb.st_ino != v.inode || static_cast<uint64_t>(sb.st_size) != v.file_size ||
      mtime != v.mtime_ns)
    throw Error(name() + ": mapped file " + v.path +
                " changed since the checkpoint (inode, size or modification time differ)");
}

void ProcessFill::map_vma(const Vma& v, const std::map<uint64_t, ShmemHolder>& shmems) {
  // A private mapping that was once writable stays charged to the commit limit ("ac") after
  // an mprotect to read-only (RELRO segments, guard pages). Map it writable, then protect,
  // so the revived mapping is charged, and behaves, the same.
  bool via_writable =
      (v.flags & MAP_PRIVATE) && (v.advice & kAdviceAccounted) && !(v.prot & PROT_WRITE);
  Vma m = v;
  if (via_writable) m.prot |= PROT_WRITE;
  map_vma_as(m, shmems);
  if (via_writable) leader().check("mprotect", SYS_mprotect, v.start, v.end - v.start, v.prot);
}

void ProcessFill::map_vma_as(const Vma& v, const std::map<uint64_t, ShmemHolder>& shmems) {
  uint64_t len = v.end - v.start;
  uint64_t flags =
      (v.flags & (MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN)) | MAP_FIXED;
  if (v.kind == VmaKind::kAnon) {
    leader().check("mmap (anonymous)", SYS_mmap, v.start, len, v.prot, flags,
                   static_cast<uint64_t>(-1), 0);
    return;
  }
  if (v.kind == VmaKind::kShmem) {
    // Every process maps the one object its holder made, so sharing is kept; a shared
    // anonymous mapping comes back as a memfd mapping (its /proc/PID/maps name differs).
    const ShmemHolder& h = shmems.at(v.shmem_id);
    RemotePtr path = put_string(
        kScratchPath, "/proc/" + std::to_string(h.holder.value) + "/fd/" + std::to_string(h.fd));
    long fd =
        leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), path.addr, O_RDWR | O_CLOEXEC);
    if (fd < 0)
      throw SysError("open (in the revived process) shared memory", v.path, static_cast<int>(-fd));
    long r =
        leader().call(SYS_mmap, v.start, len, v.prot, flags & ~static_cast<uint64_t>(MAP_ANONYMOUS),
                      static_cast<uint64_t>(fd), v.pgoff);
    leader().call(SYS_close, static_cast<uint64_t>(fd));
    if (r < 0)
      throw SysError("mmap shared memory " + v.path + " at " + hex(v.start), name(),
                     static_cast<int>(-r));
    return;
  }
  RemotePtr path = put_string(kScratchPath, v.path);
  bool writable_shared = (v.flags & MAP_SHARED) && (v.prot & PROT_WRITE);
  long fd = leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), path.addr,
                          (writable_shared ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0)
    throw SysError("open (in the revived process) mapped file", v.path, static_cast<int>(-fd));
  check_file(static_cast<int>(fd), v);
  long r = leader().call(SYS_mmap, v.start, len, v.prot, flags, static_cast<uint64_t>(fd), v.pgoff);
  leader().call(SYS_close, static_cast<uint64_t>(fd));
  if (r < 0) throw SysError("mmap " + v.path + " at " + hex(v.start), name(), static_cast<int>(-r));
}

void ProcessFill::clear() {
  for (size_t i = 0; i < threads_.size(); ++i) {
    // A forked skeleton inherited glibc's rseq registration; the kernel would keep writing
    // to that area after its memory is replaced.
    auto rseq = threads_[i].rseq();
    if (rseq.rseq_abi_pointer)
      scopes_[i]->check("rseq unregister", SYS_rseq, rseq.rseq_abi_pointer, rseq.rseq_abi_size,
                        compat::kRseqFlagUnregister, rseq.signature);
  }
  Block now = live_vdso_block(host_);
  if (!now.start) throw Error(name() + ": skeleton has no vDSO");
  leader().check("munmap below the vDSO", SYS_munmap, 0, now.start);
  leader().check("munmap above the vDSO", SYS_munmap, now.end, compat::kTaskSize - now.end);
  move_vdso();

  scratch_ = choose_scratch();
  leader().check("mmap scratch", SYS_mmap, scratch_, kScratchSize, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, static_cast<uint64_t>(-1), 0);
  // The skeleton's fds go now, before any fd of the image (or a holder's) is made here.
  for (int fd : procfs::fds(host_)) leader().call(SYS_close, static_cast<uint64_t>(fd));
}

void ProcessFill::apply_advice(const Vma& v) {
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
      leader().check(a.what, SYS_madvise, v.start, v.end - v.start, static_cast<uint64_t>(a.madv));
  if (v.advice & kAdviceLocked) leader().check("mlock", SYS_mlock, v.start, v.end - v.start);
}

void ProcessFill::rebuild_memory(const std::map<uint64_t, ShmemHolder>& shmems) {
  for (const Vma& v : image_.vmas)
    if (v.kind == VmaKind::kAnon || v.kind == VmaKind::kFile || v.kind == VmaKind::kShmem) {
      map_vma(v, shmems);
      apply_advice(v);
    }
  for (const PageExtent& e : image_.pages) {
    if (e.data_crid.value != 0)
      throw Error(name() + ": pages at " + hex(e.addr) + " live in image CRID " +
                  std::to_string(e.data_crid.value) +
                  "; reviving incremental images is not implemented yet");
    mem_.write(RemotePtr{e.addr}, e.data);
  }

  // The mm layout: what /proc/PID/stat, brk() and the auxiliary vector report.
  RemotePtr exe = put_string(kScratchPath, image_.exe);
  long exe_fd =
      leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), exe.addr, O_RDONLY | O_CLOEXEC);
  if (exe_fd < 0)
    throw SysError("open (in the revived process) executable", image_.exe,
                   static_cast<int>(-exe_fd));
  RemotePtr auxv = put(kScratchAuxv, image_.mm.auxv);
  prctl_mm_map m{};
  m.start_code = image_.mm.start_code;
  m.end_code = image_.mm.end_code;
  m.start_data = image_.mm.start_data;
  m.end_data = image_.mm.end_data;
  m.start_brk = image_.mm.start_brk;
  m.brk = image_.mm.brk;
  m.start_stack = image_.mm.start_stack;
  m.arg_start = image_.mm.arg_start;
  m.arg_end = image_.mm.arg_end;
  m.env_start = image_.mm.env_start;
  m.env_end = image_.mm.env_end;
  m.auxv = reinterpret_cast<__u64*>(auxv.addr);
  m.auxv_size = static_cast<__u32>(image_.mm.auxv.size());
  m.exe_fd = static_cast<__u32>(exe_fd);
  RemotePtr mp = put(kScratchStruct, std::string_view(reinterpret_cast<const char*>(&m), sizeof m));
  long r = leader().call(SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, mp.addr, sizeof m);
  leader().call(SYS_close, static_cast<uint64_t>(exe_fd));
  if (r < 0) throw SysError("prctl(PR_SET_MM_MAP)", name(), static_cast<int>(-r));
}

long ProcessFill::create_deleted_file(const ShmemState& s) {
  // Recreated where it was and unlinked again; when that name is taken now, under a
  // private name in the same folder (only /proc's "(deleted)" link text shows the change).
  for (const std::string& path : {s.path, s.path + ".deja-deleted-" + std::to_string(s.id)}) {
    RemotePtr p = put_string(kScratchPath, path);
    long fd = leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), p.addr,
                            O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, s.mode);
    if (fd == -EEXIST) continue;
    if (fd < 0)
      throw SysError("recreate deleted file (in the revived process)", path, static_cast<int>(-fd));
    leader().check("unlink", SYS_unlinkat, static_cast<uint64_t>(AT_FDCWD), p.addr, 0);
    return fd;
  }
  throw Error(name() + ": cannot recreate deleted file " + s.path + ": both names are taken");
}

ShmemHolder ProcessFill::hold_shmem(const ShmemState& s, int min_fd) {
  long fd;
  if (!s.path.empty()) {
    fd = create_deleted_file(s);
  } else {
    RemotePtr name_ptr = put_string(kScratchPath, s.name.empty() ? "deja-shmem" : s.name);
    fd = leader().check("memfd_create", SYS_memfd_create, name_ptr.addr, MFD_CLOEXEC);
  }
  ShmemHolder h{image_.pid, -1};
  h.fd = static_cast<int>(leader().check("fcntl(F_DUPFD_CLOEXEC)", SYS_fcntl,
                                         static_cast<uint64_t>(fd), F_DUPFD_CLOEXEC, min_fd));
  leader().call(SYS_close, static_cast<uint64_t>(fd));
  leader().check("ftruncate", SYS_ftruncate, static_cast<uint64_t>(h.fd), s.size);
  // The contents are written from here through the holder's /proc entry.
  std::string link = "/proc/" + std::to_string(host_.value) + "/fd/" + std::to_string(h.fd);
  ScopedFd w(::open(link.c_str(), O_WRONLY | O_CLOEXEC));
  if (!w) throw_errno("open", link);
  for (const PageExtent& e : s.pages) {
    size_t len = std::min<uint64_t>(e.data.size(), s.size - e.addr);  // last page may be partial
    for (size_t done = 0; done < len;) {
      ssize_t n =
          ::pwrite(w.get(), e.data.data() + done, len - done, static_cast<off_t>(e.addr + done));
      if (n <= 0) throw_errno("write shared memory contents to", link);
      done += static_cast<size_t>(n);
    }
  }
  return h;
}

void ProcessFill::release_shmem(const ShmemHolder& h) {
  leader().call(SYS_close, static_cast<uint64_t>(h.fd));
}

PipeHolder ProcessFill::hold_pipe(const PipeState& p, int min_fd) {
  int pair[2];
  if (p.path.empty()) {
    RemotePtr fds = put(kScratchStruct, std::string(8, '\0'));
    leader().check("pipe2", SYS_pipe2, fds.addr, O_CLOEXEC);
    std::string got = mem_.read(fds, sizeof pair);
    std::memcpy(pair, got.data(), sizeof pair);
  } else {
    // A named FIFO opened for reading and writing holds both ends without blocking.
    RemotePtr path = put_string(kScratchPath, p.path);
    long fd = leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), path.addr,
                            O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) throw SysError("open (in the revived process) FIFO", p.path, static_cast<int>(-fd));
    pair[0] = static_cast<int>(fd);
    pair[1] = static_cast<int>(leader().check("dup", SYS_dup, static_cast<uint64_t>(fd)));
  }
  PipeHolder h{image_.pid, -1, -1};
  // Out of the way of every fd number the image uses.
  h.read_fd = static_cast<int>(
      leader().check("fcntl(F_DUPFD_CLOEXEC)", SYS_fcntl, pair[0], F_DUPFD_CLOEXEC, min_fd));
  h.write_fd = static_cast<int>(
      leader().check("fcntl(F_DUPFD_CLOEXEC)", SYS_fcntl, pair[1], F_DUPFD_CLOEXEC, min_fd));
  leader().call(SYS_close, pair[0]);
  leader().call(SYS_close, pair[1]);
  // Fill it from here, through the holder's /proc entry: no data passes through the tracee.
  std::string link = "/proc/" + std::to_string(host_.value) + "/fd/" + std::to_string(h.write_fd);
  int w = ::open(link.c_str(), O_WRONLY | O_CLOEXEC);
  if (w < 0) throw_errno("open", link);
  ScopedFd wfd(w);
  if (p.size && ::fcntl(w, F_SETPIPE_SZ, static_cast<int>(p.size)) < 0)
    throw_errno("fcntl(F_SETPIPE_SZ)", link);
  size_t done = 0;
  while (done < p.data.size()) {
    ssize_t n = ::write(w, p.data.data() + done, p.data.size() - done);
    if (n <= 0) throw_errno("write pipe data to", link);
    done += static_cast<size_t>(n);
  }
  return h;
}

void ProcessFill::place_fd(long got, int want, const std::string& what) {
  if (got < 0) throw SysError("open (in the revived process)", what, static_cast<int>(-got));
  if (got == want) return;
  leader().check("dup2", SYS_dup2, static_cast<uint64_t>(got), static_cast<uint64_t>(want));
  leader().call(SYS_close, static_cast<uint64_t>(got));
}

void ProcessFill::restore_fds(const std::map<uint64_t, PipeHolder>& pipes,
                              const std::map<uint64_t, ShmemHolder>& shmems,
                              ObjectRevive& objects) {
  for (const FdState& f : image_.fds) {
    if (f.kind == FdKind::kEpoll) continue;  // last: it registers the others
    if (f.kind > FdKind::kShmem) {
      objects.install(*this, f);
      continue;
    }
    uint32_t flags = (f.flags & ~static_cast<uint32_t>(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY)) |
                     (f.cloexec ? O_CLOEXEC : 0);
    // A file made with O_TMPFILE keeps that flag (which includes O_DIRECTORY) in fdinfo;
    // reopening the file itself must not ask for a directory.
    constexpr uint32_t kTmpfileOnly = O_TMPFILE & ~O_DIRECTORY;
    if (flags & kTmpfileOnly) flags &= ~static_cast<uint32_t>(O_TMPFILE);
    std::string what = "fd " + std::to_string(f.fd) + " of " + name();
    if (f.kind == FdKind::kPipe) {
      const PipeHolder& h = pipes.at(f.pipe_id);
      int end = (f.flags & O_ACCMODE) == O_WRONLY ? h.write_fd : h.read_fd;
      std::string path = "/proc/" + std::to_string(h.holder.value) + "/fd/" + std::to_string(end);
      RemotePtr p = put_string(kScratchPath, path);
      place_fd(leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), p.addr, flags), f.fd,
               what + " (pipe via " + path + ")");
    } else if (f.kind == FdKind::kShmem) {
      const ShmemHolder& h = shmems.at(f.shmem_id);
      std::string path = "/proc/" + std::to_string(h.holder.value) + "/fd/" + std::to_string(h.fd);
      RemotePtr p = put_string(kScratchPath, path);
      place_fd(leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), p.addr, flags), f.fd,
               what + " (memfd via " + path + ")");
      leader().check("lseek", SYS_lseek, static_cast<uint64_t>(f.fd), f.pos, SEEK_SET);
    } else {
      RemotePtr p = put_string(kScratchPath, f.path);
      place_fd(leader().call(SYS_openat, static_cast<uint64_t>(AT_FDCWD), p.addr, flags), f.fd,
               what + " (" + f.path + ")");
      struct stat sb;
      std::string link = "/proc/" + std::to_string(host_.value) + "/fd/" + std::to_string(f.fd);
      if (::stat(link.c_str(), &sb) < 0) throw_errno("stat", link);
      if (S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode))
        leader().check("lseek", SYS_lseek, static_cast<uint64_t>(f.fd), f.pos, SEEK_SET);
    }
  }
  for (const FdState& f : image_.fds)
    if (f.kind == FdKind::kEpoll) objects.install(*this, f);
}

void ProcessFill::restore_signals() {
  std::vector<const SigactionState*> by_sig(65, nullptr);
  for (const SigactionState& s : image_.sigactions)
    if (s.sig > 0 && s.sig <= 64) by_sig[static_cast<size_t>(s.sig)] = &s;
  // Set what the image lists, and reset what the skeleton (a fork of the container's init
  // code) may have changed; every other signal is at SIG_DFL in both already.
  uint64_t to_set = non_default_signals(host_) | (1ull << (SIGCHLD - 1));
  for (const SigactionState& s : image_.sigactions) to_set |= 1ull << (s.sig - 1);
  for (int sig = 1; sig <= 64; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP || !(to_set & (1ull << (sig - 1)))) continue;
    uint64_t ka[4] = {0, 0, 0, 0};  // SIG_DFL unless the image says otherwise
    if (const SigactionState* s = by_sig[static_cast<size_t>(sig)])
      ka[0] = s->handler, ka[1] = s->flags, ka[2] = s->restorer, ka[3] = s->mask;
    RemotePtr p =
        put(kScratchStruct, std::string_view(reinterpret_cast<const char*>(ka), sizeof ka));
    leader().check("rt_sigaction", SYS_rt_sigaction, static_cast<uint64_t>(sig), p.addr, 0, 8);
  }
  // Queued signals go back through the thread itself: only a process may queue a siginfo
  // claiming kernel or kill() origin to itself. They stay pending: the scopes block all.
  auto requeue = [&](RemoteSyscalls& rs, const std::string& infos, pid_t tid) {
    for (size_t off = 0; off + sizeof(siginfo_t) <= infos.size(); off += sizeof(siginfo_t)) {
      siginfo_t si;
      std::memcpy(&si, infos.data() + off, sizeof si);
      RemotePtr p = put(kScratchStruct, infos.substr(off, sizeof si));
      if (tid)
        rs.check("rt_tgsigqueueinfo", SYS_rt_tgsigqueueinfo,
                 static_cast<uint64_t>(image_.pid.value), static_cast<uint64_t>(tid),
                 static_cast<uint64_t>(si.si_signo), p.addr);
      else
        rs.check("rt_sigqueueinfo", SYS_rt_sigqueueinfo, static_cast<uint64_t>(image_.pid.value),
                 static_cast<uint64_t>(si.si_signo), p.addr);
    }
  };
  requeue(leader(), image_.shared_pending, 0);
  for (size_t i = 0; i < threads_.size(); ++i)
    requeue(*scopes_[i], image_.threads[i].pending, image_.threads[i].tid.value);
}

void ProcessFill::restore_attributes() {
  RemotePtr cwd = put_string(kScratchPath, image_.cwd);
  leader().check("chdir", SYS_chdir, cwd.addr);
  leader().check("umask", SYS_umask, image_.umask);
  RemotePtr comm = put_string(kScratchPath, image_.comm);
  leader().check("prctl(PR_SET_NAME)", SYS_prctl, PR_SET_NAME, comm.addr);
  for (size_t r = 0; r < image_.rlimits.size() && r < RLIM_NLIMITS; ++r) {
    RemotePtr rl =
        put(kScratchStruct,
            std::string_view(reinterpret_cast<const char*>(image_.rlimits[r].data()), 16));
    leader().check("prlimit64", SYS_prlimit64, 0, r, rl.addr, 0);
  }
  for (size_t i = 0; i < threads_.size(); ++i) {
    RemoteSyscalls& rs = *scopes_[i];
    const ThreadState& t = image_.threads[i];
    rs.check("set_tid_address", SYS_set_tid_address, t.clear_child_tid);
    if (i > 0 && !t.comm.empty()) {
      RemotePtr tc = put_string(kScratchPath, t.comm);
      rs.check("prctl(PR_SET_NAME)", SYS_prctl, PR_SET_NAME, tc.addr);
    }
    rs.check("set_robust_list", SYS_set_robust_list, t.robust_list, t.robust_list_len);
    stack_t ss{};
    ss.ss_sp = reinterpret_cast<void*>(t.altstack_sp);
    ss.ss_flags = static_cast<int>(t.altstack_flags & ~static_cast<uint32_t>(SS_ONSTACK));
    ss.ss_size = t.altstack_size;
    RemotePtr sp =
        put(kScratchStruct, std::string_view(reinterpret_cast<const char*>(&ss), sizeof ss));
    rs.check("sigaltstack", SYS_sigaltstack, sp.addr, 0);
    if (t.rseq_addr) rs.check("rseq register", SYS_rseq, t.rseq_addr, t.rseq_len, 0, t.rseq_sig);
  }
  // Timers last among the process-wide state, so they lose as little time as possible.
  for (size_t which = 0; which < 3 && image_.itimers.size() == 3 * sizeof(itimerval); ++which) {
    RemotePtr it =
        put(kScratchStruct,
            std::string_view(image_.itimers).substr(which * sizeof(itimerval), sizeof(itimerval)));
    leader().check("setitimer", SYS_setitimer, which, it.addr, 0);
  }
  // Credentials are per thread in the kernel. Changing them resets the dumpable flag, so
  // they go first and the flags after.
  if (image_.uid != 0 || image_.gid != 0)
    for (auto& rs : scopes_) {
      rs->check("setresgid", SYS_setresgid, image_.gid, image_.gid, image_.gid);
      rs->check("setresuid", SYS_setresuid, image_.uid, image_.uid, image_.uid);
    }
  leader().check("personality", SYS_personality, image_.personality);
  leader().check("prctl(PR_SET_DUMPABLE)", SYS_prctl, PR_SET_DUMPABLE, image_.dumpable);
  leader().check("prctl(PR_SET_CHILD_SUBREAPER)", SYS_prctl, PR_SET_CHILD_SUBREAPER,
                 image_.child_subreaper);
  if (image_.no_new_privs)
    leader().check("prctl(PR_SET_NO_NEW_PRIVS)", SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

void ProcessFill::fill(const std::map<uint64_t, PipeHolder>& pipes,
                       const std::map<uint64_t, ShmemHolder>& shmems, ObjectRevive& objects) {
  objects.set_controlling_tty(*this, image_);
  restore_fds(pipes, shmems, objects);
  restore_signals();
  restore_attributes();
}

void ProcessFill::release_pipe(const PipeHolder& h) {
  leader().call(SYS_close, static_cast<uint64_t>(h.read_fd));
  leader().call(SYS_close, static_cast<uint64_t>(h.write_fd));
}

void ProcessFill::check_capabilities() {
  // Capabilities are not set one by one: they follow from the credentials, as they did for
  // the original in the common cases (root: all; others: none). Anything else is refused
  // here rather than revived different.
  if (image_.capabilities.empty()) return;
  auto st = procfs::status(host_);
  std::string now = capability_sets(st);
  if (now != image_.capabilities)
    throw Error(name() +
                ": capability sets (inheritable permitted effective bounding ambient) "
                "were " +
                image_.capabilities + " but come back as " + now +
                "; reviving changed capabilities is not supported yet");
}

void ProcessFill::restore_scheduling() {
  // From outside, on the host thread ids: no injection needed.
  for (size_t i = 0; i < threads_.size(); ++i) {
    const ThreadState& t = image_.threads[i];
    pid_t tid = threads_[i].tid().value;
    sched_param sp{};
    sp.sched_priority = static_cast<int>(t.rt_priority);
    // SCHED_RESET_ON_FORK (0x40000000) is reported in the policy field too.
    if (::sched_setscheduler(tid, static_cast<int>(t.policy), &sp) < 0)
      throw_errno("sched_setscheduler", name() + " thread " + std::to_string(t.tid.value));
    if (::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), t.nice) < 0)
      throw_errno("setpriority", name() + " thread " + std::to_string(t.tid.value));
    if (t.affinity.size() == sizeof(cpu_set_t) &&
        ::sched_setaffinity(tid, sizeof(cpu_set_t),
                            reinterpret_cast<const cpu_set_t*>(t.affinity.data())) < 0)
      throw_errno("sched_setaffinity", name() + " thread " + std::to_string(t.tid.value));
  }
}

void ProcessFill::finish() {
  check_capabilities();
  restore_scheduling();
  leader().check("munmap scratch", SYS_munmap, scratch_, kScratchSize);
  scratch_ = 0;
  for (size_t i = 0; i < threads_.size(); ++i) {
    threads_[i].set_xstate(image_.threads[i].xsave);
    scopes_[i]->set_final_state(image_.threads[i].regs, image_.threads[i].sigmask);
  }
}

}  // namespace deja::kmod
