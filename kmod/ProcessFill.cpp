#include "kmod/ProcessFill.h"

#include <fcntl.h>
#include <sys/syscall.h>

#include "base/Error.h"
#include "kmod/objects/Objects.h"

namespace deja::kmod {

std::string FillContext::name() const {
  return "revived process " + std::to_string(image.pid.value) + " (" + image.comm + ")";
}

RemotePtr FillContext::put(uint64_t offset, std::string_view data) {
  DEJA_CHECK(scratch != 0 && offset + data.size() <= kScratchSize);
  mem.write(RemotePtr{scratch + offset}, data);
  return RemotePtr{scratch + offset};
}

RemotePtr FillContext::put_string(uint64_t offset, const std::string& s) {
  if (s.size() >= 60000) throw Error(name() + ": path too long: " + s.substr(0, 80) + "...");
  return put(offset, std::string_view(s.c_str(), s.size() + 1));
}

void FillContext::place_fd(long got, int want, const std::string& what) {
  if (got < 0) throw SysError("open (in the revived process)", what, static_cast<int>(-got));
  if (got == want) return;
  leader().check("dup2", SYS_dup2, static_cast<uint64_t>(got), static_cast<uint64_t>(want));
  leader().call(SYS_close, static_cast<uint64_t>(got));
}

ProcessFill::ProcessFill(const ProcessState& image, HostPid host, std::vector<Tracee> threads)
    : ctx_{image, host, std::move(threads), {}, RemoteMemory(host)} {
  RemotePtr insn = vdso_syscall(host);
  for (Tracee& t : ctx_.threads) ctx_.scopes.push_back(std::make_unique<RemoteSyscalls>(t, insn));
}

ProcessFill::~ProcessFill() {
  // Scopes first (they set registers), then the Tracees detach.
  ctx_.scopes.clear();
}

void ProcessFill::clear() {
  clear_skeleton_rseq(ctx_);
  clear_skeleton_memory(ctx_);
  close_skeleton_fds(ctx_);
}

ShmemHolder ProcessFill::hold_shmem(const ShmemState& s, int min_fd) {
  return kmod::hold_shmem(ctx_, s, min_fd);
}

void ProcessFill::rebuild_memory(const ShmemHolders& shmems) {
  restore_mappings(ctx_, shmems);
  restore_mm_layout(ctx_);
}

void ProcessFill::write_pages(size_t first, size_t last) const {
  restore_pages(ctx_, first, last);
}

PipeHolder ProcessFill::hold_pipe(const PipeState& p, int min_fd) {
  return kmod::hold_pipe(ctx_, p, min_fd);
}

void ProcessFill::fill_files(const PipeHolders& pipes, const ShmemHolders& shmems,
                             ObjectRevive& objects) {
  objects.set_controlling_tty(*this, ctx_.image);
  restore_fds(pipes, shmems, objects);
}

void ProcessFill::fill_task() {
  restore_signals(ctx_);
  restore_task(ctx_);
  restore_threads(ctx_);
  // Timers last among the process-wide state, so they lose as little time as possible.
  restore_itimers(ctx_);
  restore_posix_timers(ctx_);
  restore_credentials(ctx_);
}

void ProcessFill::restore_fds(const PipeHolders& pipes, const ShmemHolders& shmems,
                              ObjectRevive& objects) {
  for (const FdState& f : ctx_.image.fds) {
    if (f.kind == FdKind::kEpoll) continue;  // last: it registers the others
    if (f.kind > FdKind::kShmem && f.kind != FdKind::kMqueue) {
      objects.install(*this, f);
      continue;
    }
    if (objects.take_open_file(*this, f)) continue;  // a dup or an inherited fd: shared
    uint32_t flags = (f.flags & ~static_cast<uint32_t>(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY)) |
                     (f.cloexec ? O_CLOEXEC : 0);
    // A file made with O_TMPFILE keeps that flag (which includes O_DIRECTORY) in fdinfo;
    // reopening the file itself must not ask for a directory.
    constexpr uint32_t kTmpfileOnly = O_TMPFILE & ~O_DIRECTORY;
    if (flags & kTmpfileOnly) flags &= ~static_cast<uint32_t>(O_TMPFILE);
    if (f.kind == FdKind::kPipe)
      restore_pipe_fd(ctx_, f, flags, pipes);
    else if (f.kind == FdKind::kShmem)
      restore_shmem_fd(ctx_, f, flags, shmems);
    else if (f.kind == FdKind::kMqueue)
      restore_mqueue_fd(ctx_, f, flags);
    else
      restore_file_fd(ctx_, f, flags);
    objects.opened_file(*this, f);
  }
  for (const FdState& f : ctx_.image.fds)
    if (f.kind == FdKind::kEpoll) objects.install(*this, f);
}

void ProcessFill::release_pipe(const PipeHolder& h) {
  kmod::release_pipe(ctx_, h);
}

void ProcessFill::release_shmem(const ShmemHolder& h) {
  kmod::release_shmem(ctx_, h);
}

void ProcessFill::finish() {
  check_capabilities(ctx_);
  restore_scheduling(ctx_);
  unmap_scratch(ctx_);
  restore_registers(ctx_);
}

}  // namespace deja::kmod
