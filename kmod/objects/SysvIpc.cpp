// System V IPC of the session's IPC namespace: shared memory segments (with those marked
// removed while still attached), semaphore sets and message queues. Kept once per tree,
// read and made again from a short-lived engine thread that enters the namespace (setns of
// CLONE_NEWIPC is per thread); segments are attached in each process by an injected shmat
// (Memory.cpp). Revive makes each object at its id through the namespace's *_next_id.
#include <fcntl.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include <cstring>
#include <exception>
#include <sstream>
#include <thread>

#include "base/Error.h"
#include "base/Files.h"
#include "base/ScopedFd.h"
#include "kmod/ImageFormat.h"
#include "kmod/ProcFs.h"
#include "kmod/objects/Objects.h"
#include "kmod/objects/ObjectsInternal.h"

namespace deja::kmod {

namespace {

union SemArg {  // semctl(2)'s union semun, which callers define
  int val;
  semid_ds* buf;
  unsigned short* array;
};

// Room left in a record for an object's data (ImageFormat.h's limit, less its other fields).
constexpr uint64_t kMaxData = image::kMaxRecordPayload - 4096;

const char* kind_name(IpcKind k) {
  switch (k) {
    case IpcKind::kShm:
      return "System V shared memory segment";
    case IpcKind::kSem:
      return "System V semaphore set";
    case IpcKind::kMsg:
      return "System V message queue";
  }
  return "System V object";
}

std::string object_name(IpcKind k, int id) {
  return std::string(kind_name(k)) + " " + std::to_string(id);
}

uint64_t ns_inode(const std::string& link) {
  struct stat sb;
  if (::stat(link.c_str(), &sb) < 0) throw_errno("stat", link);
  return sb.st_ino;
}

// The ids listed in /proc/sysvipc/<file> (second column), as this thread's namespace has them.
std::vector<int> ids_in(const std::string& file) {
  std::istringstream in(read_file("/proc/sysvipc/" + file));
  std::string line;
  std::getline(in, line);  // the header
  std::vector<int> ids;
  long long key;
  int id;
  while (std::getline(in, line))
    if (std::sscanf(line.c_str(), "%lld %d", &key, &id) == 2) ids.push_back(id);
  return ids;
}

void take_perm(SysvIpcState& s, const ipc_perm& perm) {
  s.key = perm.__key;
  s.mode = perm.mode;
  s.uid = perm.uid;
  s.gid = perm.gid;
}

SysvIpcState capture_shm(int id) {
  SysvIpcState s{.kind = IpcKind::kShm, .id = id};
  std::string what = object_name(s.kind, id);
  shmid_ds ds{};
  if (::shmctl(id, IPC_STAT, &ds) < 0) throw_errno("shmctl(IPC_STAT)", what);
  take_perm(s, ds.shm_perm);
  s.size = ds.shm_segsz;
  // Linux lets a segment marked removed be attached while it still is.
  void* at = ::shmat(id, nullptr, SHM_RDONLY);
  if (at == reinterpret_cast<void*>(-1)) throw_errno("shmat", what);
  const char* bytes = static_cast<const char*>(at);
  // Trailing zeros are what a new segment holds anyway.
  uint64_t used = s.size;
  while (used > 0 && bytes[used - 1] == 0) --used;
  if (used <= kMaxData) s.data.assign(bytes, used);
  ::shmdt(at);
  if (used > kMaxData)
    throw Error(what + " holds " + std::to_string(used) +
                " bytes, more than an image record takes (not supported yet)");
  return s;
}

SysvIpcState capture_sem(int id) {
  SysvIpcState s{.kind = IpcKind::kSem, .id = id};
  std::string what = object_name(s.kind, id);
  semid_ds ds{};
  SemArg arg{.buf = &ds};
  if (::semctl(id, 0, IPC_STAT, arg) < 0) throw_errno("semctl(IPC_STAT)", what);
  take_perm(s, ds.sem_perm);
  s.size = ds.sem_nsems;
  std::vector<unsigned short> values(s.size);
  arg.array = values.data();
  if (::semctl(id, 0, GETALL, arg) < 0) throw_errno("semctl(GETALL)", what);
  s.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof values[0]);
  return s;
}

SysvIpcState capture_msg(int id) {
  SysvIpcState s{.kind = IpcKind::kMsg, .id = id};
  std::string what = object_name(s.kind, id);
  msqid_ds ds{};
  if (::msgctl(id, IPC_STAT, &ds) < 0) throw_errno("msgctl(IPC_STAT)", what);
  take_perm(s, ds.msg_perm);
  s.size = ds.msg_qbytes;
  // No message is longer than the queue's bytes; MSG_COPY reads message `i` without taking it.
  std::string buf(sizeof(long) + ds.__msg_cbytes + 1, '\0');
  for (msgqnum_t i = 0; i < ds.msg_qnum; ++i) {
    ssize_t n = ::msgrcv(id, buf.data(), buf.size() - sizeof(long), static_cast<long>(i),
                         IPC_NOWAIT | MSG_COPY);
    if (n < 0) throw_errno("msgrcv(MSG_COPY)", what + ", message " + std::to_string(i));
    long type;
    std::memcpy(&type, buf.data(), sizeof type);
    objects::append_u64(s.data, static_cast<uint64_t>(type));
    objects::append_u64(s.data, static_cast<uint64_t>(n));
    s.data.append(buf.data() + sizeof(long), static_cast<size_t>(n));
  }
  if (s.data.size() > kMaxData) throw Error(what + " holds more than an image record takes");
  return s;
}

// Each attached segment must be one of the namespace's captured ones.
void check_attached(const TreeState& tree) {
  for (const ProcessState& p : tree.processes)
    for (const Vma& v : p.vmas) {
      if (v.kind != VmaKind::kSysvShm) continue;
      bool known = false;
      for (const SysvIpcState& s : tree.sysv_ipc)
        known = known || (s.kind == IpcKind::kShm && static_cast<uint64_t>(s.id) == v.shmem_id);
      if (!known)
        throw Error("capture: process " + std::to_string(p.pid.value) + " (" + p.comm +
                    ") attaches System V shared memory segment " + std::to_string(v.shmem_id) +
                    " of the host's IPC namespace (a session needs its own IPC namespace)");
    }
}

void set_next_id(const char* file, int id) {
  write_file(std::string("/proc/sys/kernel/") + file, std::to_string(id));
}

void check_id(long got, const SysvIpcState& s, const char* call) {
  std::string what = object_name(s.kind, s.id);
  if (got < 0) throw_errno(call, what);
  if (got != s.id)
    throw Error("revive: " + what + " came back as id " + std::to_string(got) +
                " (its id was taken, or the namespace ignored *_next_id)");
}

void set_perm(ipc_perm& perm, const SysvIpcState& s) {
  perm.uid = s.uid;
  perm.gid = s.gid;
  perm.mode = s.mode & 0777;
}

void restore_shm(const SysvIpcState& s) {
  std::string what = object_name(s.kind, s.id);
  if (s.data.size() > s.size) throw Error("image: " + what + " holds more bytes than its size");
  set_next_id("shm_next_id", s.id);
  int id = ::shmget(s.key, s.size, IPC_CREAT | IPC_EXCL | static_cast<int>(s.mode & 0777));
  check_id(id, s, "shmget");
  void* at = ::shmat(id, nullptr, 0);
  if (at == reinterpret_cast<void*>(-1)) throw_errno("shmat", what);
  std::memcpy(at, s.data.data(), s.data.size());
  ::shmdt(at);
  shmid_ds ds{};
  set_perm(ds.shm_perm, s);
  if (::shmctl(id, IPC_SET, &ds) < 0) throw_errno("shmctl(IPC_SET)", what);
  if ((s.mode & SHM_LOCKED) && ::shmctl(id, SHM_LOCK, nullptr) < 0)
    throw_errno("shmctl(SHM_LOCK)", what);
}

void restore_sem(const SysvIpcState& s) {
  std::string what = object_name(s.kind, s.id);
  if (s.data.size() != s.size * sizeof(unsigned short))
    throw Error("image: " + what + " has values for a different number of semaphores");
  set_next_id("sem_next_id", s.id);
  int id = ::semget(s.key, static_cast<int>(s.size),
                    IPC_CREAT | IPC_EXCL | static_cast<int>(s.mode & 0777));
  check_id(id, s, "semget");
  std::vector<unsigned short> values(s.size);
  std::memcpy(values.data(), s.data.data(), s.data.size());
  SemArg arg{.array = values.data()};
  if (s.size && ::semctl(id, 0, SETALL, arg) < 0) throw_errno("semctl(SETALL)", what);
  semid_ds ds{};
  set_perm(ds.sem_perm, s);
  arg.buf = &ds;
  if (::semctl(id, 0, IPC_SET, arg) < 0) throw_errno("semctl(IPC_SET)", what);
}

void restore_msg(const SysvIpcState& s) {
  std::string what = object_name(s.kind, s.id);
  set_next_id("msg_next_id", s.id);
  int id = ::msgget(s.key, IPC_CREAT | IPC_EXCL | static_cast<int>(s.mode & 0777));
  check_id(id, s, "msgget");
  msqid_ds ds{};
  set_perm(ds.msg_perm, s);
  ds.msg_qbytes = s.size;
  if (::msgctl(id, IPC_SET, &ds) < 0) throw_errno("msgctl(IPC_SET)", what);
  std::string_view in(s.data);
  std::string buf;
  while (!in.empty()) {
    long type = static_cast<long>(objects::take_u64(in, what));
    uint64_t len = objects::take_u64(in, what);
    if (len > in.size()) throw Error("image: " + what + " has a truncated message");
    buf.assign(reinterpret_cast<const char*>(&type), sizeof type);
    buf.append(in.substr(0, len));
    in.remove_prefix(len);
    if (::msgsnd(id, buf.data(), len, IPC_NOWAIT) < 0) throw_errno("msgsnd", what);
  }
}

}  // namespace

namespace objects {

// The thread, and with it the namespace change, ends with `fn`.
void in_ipc_namespace(HostPid pid, const std::function<void()>& fn) {
  std::string link = procfs::path(pid, "ns/ipc");
  ScopedFd ns(::open(link.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) throw_errno("open", link);
  std::exception_ptr failed;
  std::thread t([&] {
    try {
      if (::setns(ns.get(), CLONE_NEWIPC) < 0) throw_errno("setns(CLONE_NEWIPC)", link);
      fn();
    } catch (...) {
      failed = std::current_exception();
    }
  });
  t.join();
  if (failed) std::rethrow_exception(failed);
}

}  // namespace objects

void capture_sysv_ipc(HostPid init, TreeState& tree) {
  std::string init_ns = procfs::path(init, "ns/ipc");
  uint64_t ns = ns_inode(init_ns);
  for (const ProcessState& p : tree.processes)
    if (!p.zombie && ns_inode(procfs::path(p.host_pid, "ns/ipc")) != ns)
      throw Error("capture: process " + std::to_string(p.pid.value) + " (" + p.comm +
                  ") lives in another IPC namespace than the session's init (not supported yet)");
  // A tree sharing the engine's own namespace (the host's) has no objects of its own.
  if (ns != ns_inode("/proc/self/ns/ipc")) {
    objects::in_ipc_namespace(init, [&] {
      for (int id : ids_in("shm")) tree.sysv_ipc.push_back(capture_shm(id));
      for (int id : ids_in("sem")) tree.sysv_ipc.push_back(capture_sem(id));
      for (int id : ids_in("msg")) tree.sysv_ipc.push_back(capture_msg(id));
    });
  }
  check_attached(tree);
}

void restore_sysv_ipc(const TreeState& tree, HostPid init) {
  if (tree.sysv_ipc.empty()) return;
  objects::in_ipc_namespace(init, [&] {
    for (const SysvIpcState& s : tree.sysv_ipc) switch (s.kind) {
        case IpcKind::kShm:
          restore_shm(s);
          break;
        case IpcKind::kSem:
          restore_sem(s);
          break;
        case IpcKind::kMsg:
          restore_msg(s);
          break;
        default:
          throw Error("image: System V object " + std::to_string(s.id) + " of unknown kind");
      }
  });
}

void remove_sysv_shm(const TreeState& tree, HostPid init) {
  bool any = false;
  for (const SysvIpcState& s : tree.sysv_ipc)
    any = any || (s.kind == IpcKind::kShm && (s.mode & SHM_DEST));
  if (!any) return;
  objects::in_ipc_namespace(init, [&] {
    for (const SysvIpcState& s : tree.sysv_ipc)
      if (s.kind == IpcKind::kShm && (s.mode & SHM_DEST) && ::shmctl(s.id, IPC_RMID, nullptr) < 0)
        throw_errno("shmctl(IPC_RMID)", object_name(s.kind, s.id));
  });
}

}  // namespace deja::kmod
