// Another process's memory: process_vm_readv/writev for speed, and /proc/PID/mem for the
// pages those refuse. The kernel serves /proc/PID/mem with FOLL_FORCE, so pages of PROT_NONE
// or read-only private mappings can be read at capture and written at revive without
// changing protections back and forth.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/ScopedFd.h"
#include "kmod/Types.h"

namespace deja::kmod {

class RemoteMemory {
 public:
  explicit RemoteMemory(HostPid pid);

  std::string read(RemotePtr addr, size_t len) const;
  void read_into(RemotePtr addr, char* out, size_t len) const;
  void write(RemotePtr addr, std::string_view data) const;

  /// One range of a batch read: `len` bytes at `addr` into `out`.
  struct Piece {
    RemotePtr addr;
    char* out;
    size_t len;
  };
  /// Reads many ranges with a few syscalls (the written pages of a checkpoint are scattered).
  void read_batch(const std::vector<Piece>& pieces) const;

 private:
  HostPid pid_;
  ScopedFd fd_;
};

/// A small write with process_vm_writev alone (no /proc/PID/mem to open): for memory the
/// target can write itself. `pid` may be any thread of the process.
void write_memory(HostPid pid, RemotePtr addr, std::string_view data);
/// The same for a small read.
void read_memory(HostPid pid, RemotePtr addr, char* out, size_t len);

}  // namespace deja::kmod
