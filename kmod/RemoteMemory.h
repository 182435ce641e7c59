// Another process's memory: process_vm_readv/writev for speed, and /proc/PID/mem for the
// pages those refuse. The kernel serves /proc/PID/mem with FOLL_FORCE, so pages of PROT_NONE
// or read-only private mappings can be read at capture and written at revive without
// changing protections back and forth.
#pragma once

#include <string>
#include <string_view>

#include "base/ScopedFd.h"
#include "kmod/Types.h"

namespace deja::kmod {

class RemoteMemory {
 public:
  explicit RemoteMemory(HostPid pid);

  std::string read(RemotePtr addr, size_t len) const;
  void read_into(RemotePtr addr, char* out, size_t len) const;
  void write(RemotePtr addr, std::string_view data) const;

 private:
  HostPid pid_;
  ScopedFd fd_;
};

}  // namespace deja::kmod
