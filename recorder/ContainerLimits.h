// A session's resource limits: how many tasks it may have, how much memory, and its share of
// the CPU. Each limit lives in the cgroup controller that enforces it: in the session's v2
// group when the v2 tree has that controller (a stock Debian 12), else in a group
// `deja/ID` of the controller's v1 hierarchy (hybrid hosts, like the project's machines).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace deja::recorder {

struct ResourceLimits {
  uint64_t pids_max = 4096;
  uint64_t memory_max = 0;  // bytes; 0: the default, half of the host's memory
  // cgroup v2 scale, 1..10000 (100: one nice-0 task's share). 0, the default: no CPU group,
  // each process competes as it would outside. A group weighs as one task against the host's
  // processes in the root group, so a default weight slowed a desktop on a busy host (the
  // desktop test's clock: 38 checkpoints a minute instead of 60 at load 4).
  uint64_t cpu_weight = 0;
};

/// Parses a --memory-max value ("512M", "2G", "1073741824"); throws a one-line Error on
/// anything else or on a value below 16 MiB (no desktop starts in less).
uint64_t parse_memory_size(const std::string& text);
/// The limits from the flags --pids-max, --memory-max and --cpu-weight (each absent: its
/// default), checked; throws a one-line Error naming the flag that makes no sense.
ResourceLimits limits_from_flags(const std::optional<std::string>& pids_max,
                                 const std::optional<std::string>& memory_max,
                                 const std::optional<std::string>& cpu_weight);
/// Checks the limits make sense; throws a one-line Error naming the flag otherwise.
void check_limits(const ResourceLimits& limits);

/// Where each controller Deja uses lives on this host: "pids: cgroup v2 (PATH)" or
/// "pids: cgroup v1 (PATH)"; throws when a controller is on neither.
std::vector<std::string> limit_controllers();

/// The session's limits applied, and the v1 groups that hold them. The groups are removed
/// when this ends (and when the session has ended; see remove_session_limit_groups).
class SessionLimitGroups {
 public:
  /// `v2_group` is the session's (already created) cgroup v2 group.
  SessionLimitGroups(const std::string& id, const std::string& v2_group,
                     const ResourceLimits& limits);
  SessionLimitGroups(const SessionLimitGroups&) = delete;
  SessionLimitGroups& operator=(const SessionLimitGroups&) = delete;
  /// Removes what remove() has not.
  ~SessionLimitGroups();
  /// Removes the groups (once the session's processes are gone).
  void remove();
  /// cgroup.procs of each v1 group, for the container's first process to join.
  std::vector<std::string> procs_files() const;

 private:
  std::vector<std::string> v1_groups_;
};

/// Removes the session's v1 groups that are left (a recorder that was killed); a group that
/// still has processes stays, and is named in the returned list.
std::vector<std::string> remove_session_limit_groups(const std::string& id);

/// Keeps the OOM killer away from this process (the recorder) when it may (CAP_SYS_RESOURCE);
/// the container's first process raises its own score (kSessionOomScoreAdj), so a session
/// process is always killed before the recorder.
inline constexpr int kSessionOomScoreAdj = 500;
void protect_from_oom_killer();

}  // namespace deja::recorder
