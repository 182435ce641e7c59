// Each kind of kernel object a process holds, captured and revived by one file of this
// folder. ProcessCapture and ProcessFill call these in order; the contexts are in Context.h.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kmod/TreeState.h"
#include "kmod/objects/Context.h"

namespace deja::kmod {

// Task.cpp: ids, credentials, root/cwd/exe, umask, comm, rlimits, personality, prctl state
// (dumpable, subreaper, no_new_privs), itimers, capabilities.
/// First of a capture, from status and stat: also sets the context's vpid, comm, root and
/// stat.
void capture_task(CaptureContext& c, ProcessState& p);
/// After it, what only other files of /proc tell: the ids as the session sees them, the
/// working directory, the executable and the rlimits (with the fds, off the tracer).
void capture_task_files(CaptureContext& c, ProcessState& p);
/// Personality, dumpable, subreaper and itimers, answered by the process itself.
void ask_task(std::vector<Query>& queries, ProcessState& p);
/// Working directory, umask, comm, rlimits.
void restore_task(FillContext& c);
void restore_itimers(FillContext& c);
/// Credentials, then personality and the prctl flags (a credential change resets dumpable).
void restore_credentials(FillContext& c);
/// Capabilities follow from the credentials; refuses a revive where they would differ.
void check_capabilities(FillContext& c);
/// "CapInh CapPrm CapEff CapBnd CapAmb" of a /proc/PID/status map.
std::string capability_sets(const procfs::Status& status);

// Threads.cpp: per thread registers, xsave, signal mask, comm, rseq, robust list, alternate
// signal stack, clear_child_tid, scheduling.
void capture_threads(CaptureContext& c, ProcessState& p);
/// clear_child_tid and the alternate signal stack, answered by thread `th` itself.
void ask_thread(const CaptureContext& c, std::vector<Query>& queries, ThreadState& th);
/// Unregisters the rseq area a forked skeleton inherited from glibc.
void clear_skeleton_rseq(FillContext& c);
void restore_threads(FillContext& c);
/// Policy, priority, nice and CPU affinity, set from outside.
void restore_scheduling(FillContext& c);
/// Last: xsave, and the registers and signal mask each thread leaves its scope with.
void restore_registers(FillContext& c);

// Signals.cpp: dispositions and queued signals.
/// Signals (bit sig - 1) that `pid` catches or ignores, from /proc/PID/status.
uint64_t non_default_signals(HostPid pid);
uint64_t non_default_signals(const procfs::Status& status);
void capture_pending_signals(CaptureContext& c, ProcessState& p);
void ask_sigactions(const CaptureContext& c, std::vector<Query>& queries, ProcessState& p);
void restore_signals(FillContext& c);

// PosixTimers.cpp: POSIX timers (timer_create) with their ids, notification and time left.
/// From /proc/PID/timers; after capture_threads (a timer may notify one thread).
void capture_posix_timers(CaptureContext& c, ProcessState& p);
/// Time left, interval and overrun of each timer, answered by the process itself.
void ask_posix_timers(std::vector<Query>& queries, ProcessState& p);
void restore_posix_timers(FillContext& c);

// Memory.cpp: mappings (with madvise/mlock state), the vDSO block, the mm layout.
/// The `syscall` instruction in the vDSO of `pid`, where injected syscalls run from.
RemotePtr vdso_syscall(HostPid pid);
void capture_mm_layout(CaptureContext& c, ProcessState& p);
/// brk, answered by the process itself.
void ask_brk(std::vector<Query>& queries, ProcessState& p);
void capture_mappings(CaptureContext& c, ProcessState& p);
/// Unmaps all of the skeleton but its vDSO block, moves that to the image's address and
/// maps the scratch area (c.scratch).
void clear_skeleton_memory(FillContext& c);
void restore_mappings(FillContext& c, const ShmemHolders& shmems);
/// prctl(PR_SET_MM_MAP): what /proc/PID/stat, brk() and the auxiliary vector report.
void restore_mm_layout(FillContext& c);
void unmap_scratch(FillContext& c);

// Pages.cpp: the pages of private mappings, in full or (recorder) those written since the
// last checkpoint.
void capture_pages(CaptureContext& c, ProcessState& p);
/// capture_pages in two halves. The first takes the mappings the process's dirty tracker
/// covers, with no ptrace (any thread may run it), and says which of p.vmas it took; the
/// second reads the others in full, registering them with the tracker (injected syscalls:
/// the tracer thread only).
std::vector<bool> capture_tracked_pages(CaptureContext& c, ProcessState& p);
void capture_untracked_pages(CaptureContext& c, ProcessState& p, const std::vector<bool>& taken);
/// Writes page extents [first, last) of the image (process_vm_writev: any thread).
void restore_pages(const FillContext& c, size_t first, size_t last);

// Files.cpp: the fd table's regular files, directories and allowed character devices.
/// Throws when `what` (an fd or a mapping, at `target`) lives on a file system that a program
/// serves (FUSE): even a stat would ask that program, and one that does not answer would keep
/// the held session held. Decided from /proc alone.
void refuse_program_served_file(const CaptureContext& c, const std::string& what,
                                const std::string& target, const std::string& fstype);
/// The file system type of the mount fd `fdinfo` (its /proc/PID/fdinfo text) is open on.
std::string fd_fs_type(const CaptureContext& c, const std::string& fdinfo);
/// Fills `f` for fd `f.fd` open on `target` (an absolute path); FIFOs go to Pipes.cpp.
void capture_path_fd(CaptureContext& c, FdState& f, const std::string& target, TreeState& tree);
void close_skeleton_fds(FillContext& c);
/// Opens file or directory `f` at its number with `flags`, at its offset.
void restore_file_fd(FillContext& c, const FdState& f, uint32_t flags);

// Pipes.cpp: pipes and named FIFOs with their bytes in flight, once per tree.
void capture_pipe_fd(CaptureContext& c, FdState& f, const std::string& target, TreeState& tree);
/// `f` is open on FIFO `target` (an absolute path) of inode `inode`.
void capture_fifo_fd(CaptureContext& c, FdState& f, const std::string& target, uint64_t inode,
                     TreeState& tree);
/// The pipe behind fd `fd` of `pid`: its size and bytes in flight (copied, not consumed);
/// `what` names the fd for errors.
PipeState pipe_state(HostPid pid, int fd, uint64_t id, const std::string& what);
/// Sets pipe `p`'s size through `write_fd`, an end of it here, and writes its bytes in flight.
void fill_pipe(int write_fd, const PipeState& p, const std::string& what);
/// Creates pipe `p` in this process (both ends at fds >= `min_fd`), filled with its bytes.
PipeHolder hold_pipe(FillContext& c, const PipeState& p, int min_fd);
void release_pipe(FillContext& c, const PipeHolder& h);
void restore_pipe_fd(FillContext& c, const FdState& f, uint32_t flags, const PipeHolders& pipes);

// Shmem.cpp: shared anonymous memory, memfds and files deleted while open or mapped, kept
// once per tree.
/// `f` is open on a deleted file or memfd `target`.
void capture_deleted_fd(CaptureContext& c, FdState& f, const std::string& target, TreeState& tree);
/// The objects behind the process's kShmem mappings.
void capture_mapped_shmem(CaptureContext& c, const ProcessState& p, TreeState& tree);
/// Creates object `s` in this process (a memfd, or the deleted file again, at an fd >=
/// `min_fd`), filled.
ShmemHolder hold_shmem(FillContext& c, const ShmemState& s, int min_fd);
void release_shmem(FillContext& c, const ShmemHolder& h);
/// The memfd behind `path` (an fd link; `link_text`: "/memfd:NAME (deleted)"): its name, size
/// and contents.
ShmemState memfd_state(const std::string& path, const std::string& link_text, uint64_t id);
/// Writes `s`'s contents into the object open (writable) at `fd`.
void fill_shmem(int fd, const ShmemState& s, const std::string& what);
void restore_shmem_fd(FillContext& c, const FdState& f, uint32_t flags, const ShmemHolders& shmems);

// Mqueue.cpp: POSIX message queues of the session's IPC namespace, once per tree.
/// Whether the file behind `link_path` (a /proc fd link) is a POSIX message queue.
bool is_mqueue(const std::string& link_path);
/// `f` is open on message queue `target` ("/NAME").
void capture_mqueue_fd(CaptureContext& c, FdState& f, const std::string& target, TreeState& tree);
/// Makes the image's queues, with their messages, in the IPC namespace of `init`.
void restore_mqueues(const TreeState& tree, HostPid init);
void restore_mqueue_fd(FillContext& c, const FdState& f, uint32_t flags);

// SysvIpc.cpp: System V shared memory segments, semaphore sets and message queues of the
// session's IPC namespace, once per tree (attaching a segment is Memory.cpp's).
/// The objects of the IPC namespace every process of `tree` shares with `init`; checks each
/// attached segment is one of them. After the processes are captured.
void capture_sysv_ipc(HostPid init, TreeState& tree);
/// Makes the image's objects in the IPC namespace of `init` at their ids and keys, with their
/// contents, before any process attaches a segment.
void restore_sysv_ipc(const TreeState& tree, HostPid init);
/// Marks removed the segments that were, once every process has attached them again.
void remove_sysv_shm(const TreeState& tree, HostPid init);

}  // namespace deja::kmod
