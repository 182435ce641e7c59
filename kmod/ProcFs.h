// Readers for the /proc files capture and revive rely on. All take host PIDs (the engine runs
// in the init PID namespace) and throw SysError naming the file on failure.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kmod/Types.h"

namespace deja::kmod::procfs {

/// /proc/PID/status as key -> value (value trimmed).
std::map<std::string, std::string> status(HostPid pid);
/// The same for one thread: /proc/PID/task/TID/status.
std::map<std::string, std::string> task_status(HostPid pid, HostPid tid);
/// Last number of a "NSpid:"-style line: the id in the innermost namespace.
pid_t innermost(const std::string& ns_line);

/// Fields of /proc/PID/stat after the command name, numbered as in proc(5) (field 3 = state).
std::vector<std::string> stat_fields(HostPid pid);
/// The same for one thread: /proc/PID/task/TID/stat.
std::vector<std::string> task_stat_fields(HostPid pid, HostPid tid);

std::vector<HostPid> tasks(HostPid pid);
/// Children of every thread of the process.
std::vector<HostPid> children(HostPid pid);

/// One line of /proc/PID/maps.
struct MapsEntry {
  uint64_t start = 0, end = 0;
  std::string perms;  // "rwxp"
  uint64_t offset = 0;
  uint64_t inode = 0;
  std::string path;
  bool operator==(const MapsEntry&) const = default;
};
std::vector<MapsEntry> maps(HostPid pid);
/// Anonymous memory (no path, [heap], [stack], [anon:NAME]): only the process's own pages.
bool anonymous(const MapsEntry& m);
/// "7f00-7f10 rw-p /path", for messages.
std::string describe(const MapsEntry& m);

/// /proc/PID/fdinfo/FD: pos, flags (octal in the file, returned as a number), and the rest.
struct FdInfo {
  uint64_t pos = 0;
  uint32_t flags = 0;
};
FdInfo fdinfo(HostPid pid, int fd);
std::vector<int> fds(HostPid pid);

/// A mapping of /proc/PID/smaps with its VmFlags line. Reading smaps walks every page table
/// entry of the process (milliseconds for hundreds of MiB), unlike maps.
struct SmapsEntry {
  MapsEntry map;
  std::string flags;  // "rd wr mr mw me ac"
};
std::vector<SmapsEntry> smaps(HostPid pid);

/// /proc/PID/limits as (soft, hard) pairs in RLIMIT_* order; "unlimited" is RLIM_INFINITY.
std::vector<std::array<uint64_t, 2>> limits(HostPid pid);

/// readlink(2) returning a string; throws SysError naming the link.
std::string read_link(const std::string& path);

}  // namespace deja::kmod::procfs
