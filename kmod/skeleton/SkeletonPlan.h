// What the skeleton program (deja-skeleton) needs of an image to build its process tree:
// every process's PIDs, session, group, threads and, for a zombie, its exit status. The
// revive writes it to a memfd and execs the program in the container's PID 1; a small static
// program forks in microseconds where a fork of `deja` (158 libraries, the tree's pages)
// took tens of milliseconds, and leaves the filler little to unmap.
//
// Encoding: the magic word, the member count, then per member pid, ppid, sid, pgid,
// zombie, exit status and the thread count followed by the TIDs, all little-endian int32.
// Both ends are built together; the magic word catches a stale program.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace deja::kmod {

struct SkeletonMember {
  int32_t pid = 0, ppid = 0, sid = 0, pgid = 0;
  bool zombie = false;
  int32_t exit_status = 0;
  std::vector<int32_t> tids;  // tids[0] is the thread group leader
};

std::string encode_skeleton_plan(const std::vector<SkeletonMember>& members);
/// nullopt when `bytes` is not a whole plan of this build.
std::optional<std::vector<SkeletonMember>> decode_skeleton_plan(const std::string& bytes);

}  // namespace deja::kmod
