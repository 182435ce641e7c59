// Strong types for the numbers the engine juggles, so a host PID is never passed where a
// PID inside the session's namespace is expected, and a remote address never becomes a
// local pointer by accident.
#pragma once

#include <sys/types.h>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace deja::kmod {

/// Checkpoint id: unique in the store, strictly increasing in time. 0 means "none".
struct Crid {
  uint64_t value = 0;
  auto operator<=>(const Crid&) const = default;
};

/// A PID or TID as seen from the init namespace (where the recorder runs).
struct HostPid {
  pid_t value = 0;
  auto operator<=>(const HostPid&) const = default;
};

/// A PID or TID as seen inside the session's PID namespace; these are what an image stores
/// and what a revive recreates.
struct VPid {
  pid_t value = 0;
  auto operator<=>(const VPid&) const = default;
};

/// An address in another process's address space.
struct RemotePtr {
  uint64_t addr = 0;
  auto operator<=>(const RemotePtr&) const = default;
  RemotePtr operator+(uint64_t n) const { return RemotePtr{addr + n}; }
};

constexpr uint64_t kPageSize = 4096;

/// Whether `n` bytes (a multiple of 8) are all zero: zero pages are never stored.
inline bool all_zero(const char* p, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    if (v) return false;
  }
  return true;
}

}  // namespace deja::kmod
