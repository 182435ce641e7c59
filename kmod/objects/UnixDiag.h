// The kernel's view of a network namespace's unix sockets (NETLINK_SOCK_DIAG): who is
// connected to whom, bound names, queue lengths, pending connections and shutdown state,
// none of which an fd of the socket can tell. The sock_diag socket of the last namespace read
// is kept from one capture to the next (making one takes a thread set into the namespace).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/ScopedFd.h"

namespace deja::kmod {

class UnixDiag {
 public:
  struct Entry {
    uint64_t inode = 0;
    uint8_t type = 0, state = 0, shutdown = 0;
    std::string name;  // sun_path as bound ('\0' first for an abstract name); empty: unbound
    uint64_t peer = 0;
    std::vector<uint64_t> pending;  // listeners: connections not accepted yet
    uint32_t rqueue = 0, wqueue = 0;  // listeners: pending count, backlog
  };

  /// Diag of the network namespace of process `pid` (the session's init).
  explicit UnixDiag(pid_t pid);
  /// Whether `sock_fd` lives in the namespace this diag reads.
  bool same_namespace(int sock_fd) const;
  /// Every unix socket of the namespace, read once on first use.
  const Entry* find(uint64_t inode);

 private:
  void dump();
  ScopedFd netlink_;
  uint64_t netns_inode_ = 0;
  bool dumped_ = false;
  std::map<uint64_t, Entry> entries_;
};

}  // namespace deja::kmod
