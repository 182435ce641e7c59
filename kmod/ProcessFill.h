// The second half of a revive for one process: turns a waiting skeleton (seized, all
// threads) into the image's process through injected syscalls. Phases are separate methods
// because pipes shared between processes need every process cleared before any is filled.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "kmod/RemoteMemory.h"
#include "kmod/RemoteSyscalls.h"
#include "kmod/Tracee.h"
#include "kmod/TreeState.h"
#include "kmod/objects/FdObjects.h"

namespace deja::kmod {

/// Where a pipe is held while the tree is filled: both ends open in `holder`, at fds
/// `read_fd` and `write_fd`, so any process can open either end through /proc.
struct PipeHolder {
  VPid holder;
  int read_fd = -1, write_fd = -1;
};

/// Where a shared-memory object is held while the tree is filled: a memfd in `holder`.
struct ShmemHolder {
  VPid holder;
  int fd = -1;
};

class ProcessFill {
 public:
  /// `threads[i]` holds the skeleton thread for `image.threads[i]`.
  ProcessFill(const ProcessState& image, HostPid host, std::vector<Tracee> threads);
  ProcessFill(const ProcessFill&) = delete;
  ProcessFill& operator=(const ProcessFill&) = delete;
  /// Ends the injection scopes: threads get their image registers and masks back.
  ~ProcessFill();

  /// Unmaps the skeleton, moves the vDSO, maps the scratch area, closes the skeleton's fds.
  void clear();
  /// Creates shared-memory object `s` here (a memfd at an fd >= `min_fd`), filled.
  ShmemHolder hold_shmem(const ShmemState& s, int min_fd);
  /// Rebuilds every mapping and its pages and sets the mm layout.
  void rebuild_memory(const std::map<uint64_t, ShmemHolder>& shmems);
  /// Creates pipe `p` here (both ends at fds >= `min_fd`), filled with its bytes in flight.
  PipeHolder hold_pipe(const PipeState& p, int min_fd);
  /// Controlling terminal, files, working directory, signals, process attributes, thread
  /// state. `objects` holds the sockets, event fds, epolls and terminals of the tree.
  void fill(const std::map<uint64_t, PipeHolder>& pipes,
            const std::map<uint64_t, ShmemHolder>& shmems, ObjectRevive& objects);
  /// Closes pipe ends this process held for others.
  void release_pipe(const PipeHolder& h);
  void release_shmem(const ShmemHolder& h);
  /// Last: unmaps the scratch area, loads xsave and arranges the final registers.
  void finish();

  // For the object files (kmod/objects/): injected syscalls in the process's leader, and
  // its scratch area for their arguments.
  std::string name() const;
  VPid vpid() const { return image_.pid; }
  HostPid host() const { return host_; }
  RemoteSyscalls& syscalls() { return leader(); }
  /// Copies a syscall's struct argument into the scratch area; returns its address.
  RemotePtr put_struct(std::string_view data);
  RemotePtr put_path(const std::string& path);
  std::string read_remote(RemotePtr at, size_t n) const { return mem_.read(at, n); }
  /// Moves fd `got` (an injected call's result) to `want`; throws naming `what` on failure.
  void place_fd(long got, int want, const std::string& what);

 private:
  RemoteSyscalls& leader() { return *scopes_[0]; }
  /// Copies `data` into the scratch area at `offset`; returns its remote address.
  RemotePtr put(uint64_t offset, std::string_view data);
  RemotePtr put_string(uint64_t offset, const std::string& s);
  void move_vdso();
  void map_vma(const Vma& v, const std::map<uint64_t, ShmemHolder>& shmems);
  void map_vma_as(const Vma& v, const std::map<uint64_t, ShmemHolder>& shmems);
  void check_file(int remote_fd, const Vma& v);
  void restore_fds(const std::map<uint64_t, PipeHolder>& pipes,
                   const std::map<uint64_t, ShmemHolder>& shmems, ObjectRevive& objects);
  void restore_signals();
  void restore_attributes();
  uint64_t choose_scratch() const;
  void check_capabilities();
  void restore_scheduling();
  void apply_advice(const Vma& v);
  long create_deleted_file(const ShmemState& s);

  const ProcessState& image_;
  HostPid host_;
  std::vector<Tracee> threads_;
  std::vector<std::unique_ptr<RemoteSyscalls>> scopes_;
  RemoteMemory mem_;
  uint64_t scratch_ = 0;
};

}  // namespace deja::kmod
