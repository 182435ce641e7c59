// What the capture and the revive of one process hand each kind of kernel object
// (kmod/objects/*.cpp): the process, its held threads and the few helpers every kind uses.
// The drivers (ProcessCapture, ProcessFill) own a context and call the kinds in order.
#pragma once

#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "base/ScopedFd.h"
#include "kmod/ProcFs.h"
#include "kmod/TreeState.h"
#include "kmod/Types.h"
#include "kmod/inject/RemoteMemory.h"
#include "kmod/inject/RemoteSyscalls.h"
#include "kmod/inject/Tracee.h"

namespace deja::kmod {

struct ProcessTracking;

/// Lets go the entries of a per-capture cache that the last capture did not ask for, and
/// clears `asked` on the rest for the next one.
template <typename Map>
void forget_unasked(Map& entries) {
  std::erase_if(entries, [](const auto& kv) { return !kv.second.asked; });
  for (auto& kv : entries) kv.second.asked = false;
}

/// The stat of each mapped file (by device and inode) for the whole tree: most processes map
/// the same libraries. A stat through /proc/PID/map_files costs tens of microseconds (a path
/// walk through procfs). A file met by a capture is stat'ed that way, then opened (O_PATH)
/// before the next freeze and kept open while captures ask for it, so they take an fstat.
/// Opening is not done under the freeze: a desktop's first capture waited 50 ms in 170 such
/// opens. Both capture threads use it (CaptureWorkerThread.h).
class MappedFileStats {
 public:
  /// The stat of the file `pid` maps as `m`, taken afresh once per capture.
  struct stat get(HostPid pid, const procfs::MapsEntry& m);
  /// Before the next capture: its stats are taken afresh, and the files the last one did not
  /// ask for are let go.
  void next_capture();
  /// While the session runs: opens the files met since, through the mapping they were met
  /// at; one that mapping no longer shows (it moved, or its process ended) stays without.
  void open_new_files();

 private:
  // The file as maps names it (device and inode): two paths to one file are one stat, and
  // a lookup compares three numbers, not a library's path (2,000 lookups a checkpoint).
  using Key = std::tuple<uint32_t, uint32_t, uint64_t>;
  struct File {
    ScopedFd handle;
    std::string met_at;  // its map_files link, until open_new_files() tried it
    struct stat sb;
    bool asked = false;  // by the capture in progress
  };
  std::mutex mu_;
  std::map<Key, File> files_;
};

/// What each mount is, once per mount namespace for the whole tree: the processes of a
/// session nearly all share one, and its mountinfo cost 0.2 ms a process to read and parse.
/// The tree is held, so none of its processes can mount meanwhile.
/// Kept from one capture to the next, a namespace's table is read again only when its
/// mountinfo polls as changed (the kernel's own mount event count).
class MountTypesCache {
 public:
  /// The mounts `pid` sees.
  std::shared_ptr<const procfs::MountTypes> get(HostPid pid);
  /// Before the next capture: the namespaces the last one did not ask about are let go.
  void next_capture();

 private:
  struct Namespace {
    ScopedFd mountinfo;  // polls POLLPRI once a mount changes after the last poll
    std::shared_ptr<const procfs::MountTypes> types;
    bool asked = false;
  };
  std::mutex mu_;
  std::map<uint64_t, Namespace> by_namespace_;
};

/// What a capture reads once for the whole tree, kept by a recorder from one capture to the
/// next (PageTracking::caches()).
struct CaptureCaches {
  MappedFileStats mapped_files;
  MountTypesCache mount_types;
  /// Before each capture.
  void next_capture() {
    mapped_files.next_capture();
    mount_types.next_capture();
  }
};

/// One live process being captured, all its threads held.
struct CaptureContext {
  HostPid pid;
  std::vector<Tracee>& threads;          // threads[0] is the thread group leader
  const std::map<HostPid, VPid>& vpids;  // every host PID of the tree -> its session PID
  ProcessTracking* tracking;  // null for a one-off capture; else pages are read incrementally
  // Set by capture_task, first: the process's names, its root as this process sees it and
  // its /proc/PID/stat.
  VPid vpid;
  std::string comm;
  std::string root;
  // /proc/PID/stat and status, read once (capture_tree hands over what it read to find the
  // tree).
  procfs::Stat stat;
  procfs::Status status;
  bool handed_over = false;                 // `stat` and `status` came from capture_tree
  MappedFileStats* mapped_files = nullptr;  // the tree's, when there is a tree
  // The vDSO and its `syscall`, found before the injected queries (the `syscall` only when
  // the engine's pages are not there to run them).
  uint64_t vdso_start = 0, vdso_end = 0;
  RemotePtr syscall_insn;
  // The mappings as the injected queries found them, when nothing changed them since (the
  // engine's pages were there already): capture_mappings need not read them again.
  std::optional<std::vector<procfs::MapsEntry>> maps;
  // What each mount the process sees is, set by begin() for its fds and its mappings (both
  // capture threads read it; shared by the tree's processes of one mount namespace).
  std::shared_ptr<const procfs::MountTypes> mounts;
  // Set by capture_mappings, by index of the process's vmas: the mapping holds only pages of
  // its file, none of the process's own (capture_pages skips it).
  std::vector<bool> file_pages_only;

  /// "process 12 (comm, host pid 3456)", for errors.
  std::string name() const;
  /// `path` (as this process sees it) relative to the process's root; throws naming `what`
  /// for a deleted file or a path outside the root.
  std::string relative(const std::string& path, const std::string& what) const;
  /// A scope for injected syscalls in `t`: from the engine's pages when the process has them.
  std::unique_ptr<RemoteSyscalls> injector(Tracee& t) const;
};

/// One syscall whose answer only the process itself can give: its arguments, which of them
/// points at the output (-1: none; the output then is the result alone), and what to do with
/// the answer. The capture runs each kind's queries in the process, in batches.
struct Query {
  const char* what;
  long nr;
  std::array<uint64_t, 6> args;
  int out_arg;
  std::function<void(long result, const char* out)> take;
};

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

/// "0x7f12...", for messages.
inline std::string hex_address(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

using PipeHolders = std::map<uint64_t, PipeHolder>;    // by pipe id
using ShmemHolders = std::map<uint64_t, ShmemHolder>;  // by shared-memory object id

// The revive's scratch area in the process: room for the structs and paths handed to
// injected syscalls.
constexpr uint64_t kScratchSize = 1 << 20;
constexpr uint64_t kScratchStruct = 0;       // structs handed to syscalls
constexpr uint64_t kScratchPath = 64 << 10;  // paths
constexpr uint64_t kScratchAuxv = 128 << 10;

/// One skeleton process being turned into the image's process, all its threads seized and
/// each in an injection scope.
struct FillContext {
  const ProcessState& image;
  HostPid host;
  std::vector<Tracee> threads;                          // threads[i] holds image.threads[i]
  std::vector<std::unique_ptr<RemoteSyscalls>> scopes;  // one per thread
  RemoteMemory mem;
  uint64_t scratch = 0;  // the scratch area's address, once mapped

  /// "revived process 12 (comm)", for errors.
  std::string name() const;
  /// The injection scope of the thread group leader, where process-wide syscalls run.
  RemoteSyscalls& leader() { return *scopes[0]; }
  /// Copies `data` into the scratch area at `offset`; returns its remote address.
  RemotePtr put(uint64_t offset, std::string_view data);
  RemotePtr put_string(uint64_t offset, const std::string& s);
  /// Moves fd `got` (an injected open's result) to number `want`; throws naming `what`.
  void place_fd(long got, int want, const std::string& what);
};

}  // namespace deja::kmod
