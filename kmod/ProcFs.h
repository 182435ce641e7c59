// Readers for the /proc files capture and revive rely on. All take host PIDs (the engine runs
// in the init PID namespace) and throw SysError naming the file on failure.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kmod/Types.h"

namespace deja::kmod::procfs {

/// "/proc/PID", or "/proc/PID/WHAT" ("maps", "fd/3", ...).
std::string path(HostPid pid, std::string_view what = {});
/// "/proc/PID/task/TID", or "/proc/PID/task/TID/WHAT".
std::string task_path(HostPid pid, HostPid tid, std::string_view what = {});
/// "/proc/PID/fd/FD": opening it gives the open file itself (a pipe, a deleted file).
std::string fd_path(HostPid pid, int fd);
/// The same path inside the session's PID namespace, for a process there to open.
std::string fd_path(VPid pid, int fd);
/// "/proc/PID/map_files/START-END": the object mapped there, openable from outside.
std::string map_file_path(HostPid pid, uint64_t start, uint64_t end);

/// The fields of /proc/PID/status the engine uses, named as the file names them.
struct Status {
  std::string name;                           // Name
  pid_t ppid = 0;                             // PPid
  pid_t tracer_pid = 0;                       // TracerPid
  std::array<uint32_t, 4> uid{}, gid{};       // Uid, Gid: real, effective, saved, file system
  uint32_t umask = 0;                         // Umask
  pid_t ns_pid = 0, ns_pgid = 0, ns_sid = 0;  // NSpid, NSpgid, NSsid: in the innermost namespace
  size_t pid_namespaces = 0;                  // how many ids NSpid lists
  uint64_t sig_ignored = 0, sig_caught = 0;   // SigIgn, SigCgt
  // CapInh CapPrm CapEff CapBnd CapAmb, as the file writes them (hexadecimal).
  std::array<std::string, 5> capabilities;
  uint64_t rss_anon_kib = 0;  // RssAnon: private memory in RAM
  uint32_t no_new_privs = 0;  // NoNewPrivs
  int seccomp = 0;            // Seccomp: 0 none, 1 strict, 2 filter
};
Status status(HostPid pid);
/// The same for one thread: /proc/PID/task/TID/status.
Status task_status(HostPid pid, HostPid tid);
/// The text after `key` ("pos:", "flags:", ...) on its line of a "Key:\tvalue" file such as
/// fdinfo, trimmed; empty when no line has it.
std::string_view field(std::string_view text, std::string_view key);
/// A host uid or gid as process `pid`'s user namespace has it, through its /proc/PID/uid_map
/// or gid_map (`map_file`); 65534 (the kernel's overflow id, what the process sees) when the
/// namespace does not map it. A session with a user namespace of its own
/// (recorder/ContainerIds.h) is revived from inside it, so images hold its ids.
uint32_t id_inside(HostPid pid, const char* map_file, uint32_t host_id);

/// The fields of /proc/PID/stat the engine uses, named as in proc(5) (its field number).
struct Stat {
  std::string comm;         // 2, without its parentheses: the same as /proc/PID/comm
  char state = 0;           // 3: R, S, D, Z, T (job-control stop), t (traced), X, ...
  uint64_t tty_nr = 0;      // 7: the controlling terminal's device number, 0 for none
  int nice = 0;             // 19
  uint64_t start_time = 0;  // 22: clock ticks after boot; tells a reused PID apart
  uint64_t start_code = 0, end_code = 0, start_stack = 0;           // 26, 27, 28
  uint32_t rt_priority = 0, policy = 0;                             // 40, 41
  uint64_t start_data = 0, end_data = 0, start_brk = 0;             // 45, 46, 47
  uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;  // 48 - 51
  int exit_code = 0;  // 52: the wait status of a zombie
};
Stat stat(HostPid pid);
/// The same for one thread: /proc/PID/task/TID/stat.
Stat task_stat(HostPid pid, HostPid tid);


std::vector<HostPid> tasks(HostPid pid);
/// Children of every thread of the process.
std::vector<HostPid> children(HostPid pid);

/// One line of /proc/PID/maps.
struct MapsEntry {
  uint64_t start = 0, end = 0;
  std::string perms;  // "rwxp"
  uint64_t offset = 0;
  uint64_t inode = 0;
  uint32_t dev_major = 0, dev_minor = 0;  // of the mapped file's file system
  std::string path;
  bool operator==(const MapsEntry&) const = default;
};
std::vector<MapsEntry> maps(HostPid pid);
/// The file system type of each mount `pid` sees, by mount id and by device number
/// (/proc/PID/mountinfo): what a file lives on, found without asking the file system.
struct MountTypes {
  std::map<int, std::string> by_id;
  std::map<std::pair<uint32_t, uint32_t>, std::string> by_dev;
};
MountTypes mount_types(HostPid pid);
/// The same from the text of a mountinfo file (`what` names it for errors).
MountTypes parse_mount_types(const std::string& text, const std::string& what);
/// The mount namespace `pid` is in (the inode of /proc/PID/ns/mnt).
uint64_t mount_namespace(HostPid pid);
/// FUSE ("fuse", "fuse.sshfs", "fuseblk"): a program answers for it, and one that does not
/// answer holds whoever asks.
bool served_by_a_program(const std::string& fstype);
/// Anonymous memory (no path, [heap], [stack], [anon:NAME]): only the process's own pages.
bool anonymous(const MapsEntry& m);
/// "7f00-7f10 rw-p /path", for messages.
std::string describe(const MapsEntry& m);

/// /proc/PID/fdinfo/FD: pos, flags (octal in the file, returned as a number), and the rest.
struct FdInfo {
  uint64_t pos = 0;
  uint32_t flags = 0;
  std::string text;  // the whole file, for the kinds that need more of it
};
FdInfo fdinfo(HostPid pid, int fd);
std::vector<int> fds(HostPid pid);

/// A mapping of /proc/PID/smaps with its VmFlags line. Reading smaps walks every page table
/// entry of the process (milliseconds for hundreds of MiB), unlike maps.
struct SmapsEntry {
  MapsEntry map;
  std::string flags;  // "rd wr mr mw me ac"
  uint64_t anonymous_kb = 0;  // "Anonymous:": its pages that are not the file's
};
std::vector<SmapsEntry> smaps(HostPid pid);
/// Calls `each(name)` for each two-letter flag of a VmFlags line, as a number (vm_flag("ac")):
/// a desktop's capture looks through 2,000 of these lines.
template <typename Each>
void for_each_vm_flag(std::string_view flags, Each each) {
  for (size_t i = 0; i + 1 < flags.size(); ++i) {
    if (flags[i] == ' ') continue;
    if (i + 2 >= flags.size() || flags[i + 2] == ' ')
      each(static_cast<uint16_t>(static_cast<uint8_t>(flags[i]) << 8 |
                                 static_cast<uint8_t>(flags[i + 1])));
    while (i < flags.size() && flags[i] != ' ') ++i;
  }
}
constexpr uint16_t vm_flag(const char (&name)[3]) {
  return static_cast<uint16_t>(static_cast<uint8_t>(name[0]) << 8 | static_cast<uint8_t>(name[1]));
}
bool has_vm_flag(std::string_view flags, uint16_t flag);
/// A private file mapping that was never writable (no VM_ACCOUNT, which making it writable
/// sets for good, nor VM_NORESERVE, which stands in for it) and holds no page of its own:
/// only the file's pages are there. Only a debugger's forced write (ptrace, /proc/PID/mem)
/// could add one.
bool only_file_pages(const SmapsEntry& e);

/// /proc/PID/limits as (soft, hard) pairs in RLIMIT_* order; "unlimited" is RLIM_INFINITY.
std::vector<std::array<uint64_t, 2>> limits(HostPid pid);

/// readlink(2) returning a string; throws SysError naming the link.
std::string read_link(const std::string& path);

}  // namespace deja::kmod::procfs
