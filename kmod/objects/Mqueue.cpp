// POSIX message queues of the session's IPC namespace: kept once per tree by name, with their
// limits, owner, mode and messages (priority and bytes, in the order they would be
// received); made again from an engine thread inside the revived tree's namespace, and each
// fd reopened by an injected mq_open. Reading a queue takes its messages, so the capture
// sends them straight back in the same order: the queue ends as it was, and a queue with a
// notification registered (which that would fire) is refused.
#include <fcntl.h>
#include <mqueue.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstring>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "kmod/ProcFs.h"
#include "kmod/objects/Objects.h"
#include "kmod/objects/ObjectsInternal.h"

namespace deja::kmod {

namespace {

constexpr long kMqueueMagic = 0x19800202;  // the kernel's MQUEUE_MAGIC, not in uapi headers

// Every message of `q`, taken and sent back in the order they come out.
std::string messages_of(int q, const mq_attr& attr, const std::string& what) {
  std::string out, buf(static_cast<size_t>(attr.mq_msgsize), '\0');
  std::vector<std::pair<unsigned, std::string>> taken;
  const timespec now{0, 0};  // an absolute time already past: never wait
  for (long i = 0; i < attr.mq_curmsgs; ++i) {
    unsigned prio = 0;
    ssize_t n = ::mq_timedreceive(q, buf.data(), buf.size(), &prio, &now);
    if (n < 0) throw_errno("mq_timedreceive", what);
    taken.emplace_back(prio, buf.substr(0, static_cast<size_t>(n)));
  }
  for (const auto& [prio, bytes] : taken) {
    if (::mq_timedsend(q, bytes.data(), bytes.size(), prio, &now) < 0)
      throw_errno("mq_timedsend (putting a message back)", what);
    objects::append_u64(out, prio);
    objects::append_u64(out, bytes.size());
    out += bytes;
  }
  return out;
}

void capture_queue(CaptureContext& c, const std::string& link, const std::string& name,
                   TreeState& tree) {
  for (const MqueueState& m : tree.mqueues)
    if (m.name == name) return;
  std::string what = "POSIX message queue " + name + " of " + c.name();
  ScopedFd q(::open(link.c_str(), O_RDWR | O_CLOEXEC));
  if (!q) throw_errno("open", link);
  // Reading the queue's file gives "QSIZE:... NOTIFY:... SIGNO:... NOTIFY_PID:...".
  char status[256] = {};
  if (::pread(q.get(), status, sizeof status - 1, 0) < 0) throw_errno("read", link);
  const char* pid = std::strstr(status, "NOTIFY_PID:");
  if (pid && std::atoi(pid + 11) != 0)
    throw Error(what + " has a notification registered (mq_notify), not supported yet");
  mq_attr attr{};
  if (::mq_getattr(q.get(), &attr) < 0) throw_errno("mq_getattr", what);
  struct stat sb;
  if (::fstat(q.get(), &sb) < 0) throw_errno("fstat", what);
  MqueueState m;
  m.name = name;
  m.mode = sb.st_mode & 07777;
  m.uid = sb.st_uid;
  m.gid = sb.st_gid;
  m.maxmsg = static_cast<uint64_t>(attr.mq_maxmsg);
  m.msgsize = static_cast<uint64_t>(attr.mq_msgsize);
  m.messages = messages_of(q.get(), attr, what);
  tree.mqueues.push_back(std::move(m));
}

void restore_queue(const MqueueState& m) {
  std::string what = "POSIX message queue " + m.name;
  mq_attr attr{};
  attr.mq_maxmsg = static_cast<long>(m.maxmsg);
  attr.mq_msgsize = static_cast<long>(m.msgsize);
  // Made as its owner: a session with a user namespace of its own has its mqueue file system
  // owned by it, where our uid 0 has no id and may not create (EOVERFLOW). Per thread, and
  // this is the engine's thread in the session's IPC namespace.
  ::setfsgid(m.gid);
  ::setfsuid(m.uid);
  mqd_t q = ::mq_open(m.name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                      static_cast<mode_t>(m.mode), &attr);
  if (q < 0) throw_errno("mq_open", what);
  ScopedFd owned(q);
  if (::fchmod(q, m.mode) < 0) throw_errno("fchmod", what);  // as the umask left it
  if (::fchown(q, m.uid, m.gid) < 0) throw_errno("fchown", what);
  std::string_view in(m.messages);
  const timespec now{0, 0};
  while (!in.empty()) {
    auto prio = static_cast<unsigned>(objects::take_u64(in, what));
    uint64_t len = objects::take_u64(in, what);
    if (len > in.size()) throw Error("image: " + what + " has a truncated message");
    if (::mq_timedsend(q, in.data(), len, prio, &now) < 0) throw_errno("mq_timedsend", what);
    in.remove_prefix(len);
  }
}

}  // namespace

bool is_mqueue(const std::string& link_path) {
  struct statfs fs;
  if (::statfs(link_path.c_str(), &fs) < 0) throw_errno("statfs", link_path);
  return fs.f_type == kMqueueMagic;
}

void capture_mqueue_fd(CaptureContext& c, FdState& f, const std::string& target, TreeState& tree) {
  std::string link = procfs::fd_path(c.pid, f.fd);
  if (target.ends_with(" (deleted)"))
    throw Error(c.name() + ": fd " + std::to_string(f.fd) + " (" + target +
                ") is a POSIX message queue unlinked while open, not supported yet");
  f.kind = FdKind::kMqueue;
  f.path = target;
  capture_queue(c, link, target, tree);
}

void restore_mqueues(const TreeState& tree, HostPid init) {
  if (tree.mqueues.empty()) return;
  objects::in_ipc_namespace(init, [&] {
    for (const MqueueState& m : tree.mqueues) restore_queue(m);
  });
}

void restore_mqueue_fd(FillContext& c, const FdState& f, uint32_t flags) {
  // The syscall takes the name without glibc's leading slash.
  RemotePtr name = c.put_string(kScratchPath, f.path.substr(1));
  c.place_fd(
      c.leader().call(SYS_mq_open, name.addr, flags & (O_ACCMODE | O_NONBLOCK | O_CLOEXEC), 0, 0),
      f.fd,
      "fd " + std::to_string(f.fd) + " of " + c.name() + " (POSIX message queue " + f.path + ")");
}

}  // namespace deja::kmod
