#include "service/UserRequests.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include "base/Error.h"
#include "base/Files.h"
#include "service/Spawn.h"

namespace deja::service {
namespace {

// A request is one datagram of NUL-separated words with the client's stdout and stderr
// (SCM_RIGHTS); the answer is "exit N", or "error TEXT" when the request was refused.
constexpr size_t kMaxRequest = 64 * 1024;

struct Offer {
  std::set<std::string> flags, options;
  bool session = false;  // takes one SESSION of the user's
  bool command = false;  // takes -- CMD...
};

const std::map<std::string, Offer>& offered() {
  static const std::map<std::string, Offer> kOffers = {
      {"record", {{"detach", "desktop", "no-display"},
                  {"name", "interval", "geometry", "exclude-app", "exclude-title"},
                  false, true}},
      {"sessions", {{"json"}, {}, false, false}},
      {"stop", {{}, {}, true, false}},
      {"pause", {{}, {}, true, false}},
      {"resume", {{}, {}, true, false}},
      {"checkpoint", {{}, {}, true, false}},
      {"gaps", {{"json"}, {}, true, false}},
  };
  return kOffers;
}

sockaddr_un address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) throw Error("socket path too long: " + path);
  std::memcpy(a.sun_path, path.c_str(), path.size());
  return a;
}

void send_answer(int conn, const std::string& answer) {
  // The user may have gone: that is theirs to miss, not the daemon's to die of (SIGPIPE).
  ::send(conn, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

std::vector<std::string> split_words(const std::string& msg) {
  std::vector<std::string> words;
  size_t start = 0;
  while (start < msg.size()) {
    size_t end = msg.find('\0', start);
    if (end == std::string::npos) end = msg.size();
    words.push_back(msg.substr(start, end - start));
    start = end + 1;
  }
  return words;
}

}  // namespace

std::vector<std::string> service_command(const std::vector<std::string>& words, uid_t uid,
                                         const OwnerOf& owner_of) {
  if (words.empty()) throw Error("no command given");
  auto offer = offered().find(words[0]);
  if (offer == offered().end()) {
    std::string names;
    for (const auto& [name, _] : offered()) names += (names.empty() ? "" : ", ") + name;
    throw Error("'" + words[0] + "' is not offered by the service (it offers " + names + ")");
  }
  const Offer& o = offer->second;
  std::vector<std::string> out = {words[0]}, positionals;
  size_t i = 1;
  for (; i < words.size() && words[i] != "--"; ++i) {
    const std::string& w = words[i];
    if (w.rfind("--", 0) != 0) {
      positionals.push_back(w);
      continue;
    }
    const std::string name = w.substr(2, w.find('=') - 2);
    const bool inline_value = w.find('=') != std::string::npos;
    if (o.flags.count(name) && !inline_value) {
      if (name != "detach") out.push_back(w);  // a recording through the service is detached
    } else if (o.options.count(name)) {
      out.push_back(w);
      if (!inline_value) {
        if (i + 1 >= words.size()) throw Error("option " + w + " needs a value");
        out.push_back(words[++i]);
      }
    } else {
      throw Error("option " + w + " of " + words[0] + " is not offered by the service");
    }
  }
  if (o.session) {
    if (positionals.size() != 1) throw Error(words[0] + " needs one SESSION");
    auto owner = owner_of(positionals[0]);
    // Someone else's session and no session at all read the same.
    if (!owner || (uid != 0 && *owner != std::optional<int64_t>(uid)))
      throw Error("you have no session " + positionals[0] + " (deja sessions lists yours)");
    out.push_back(positionals[0]);
  } else if (!positionals.empty()) {
    throw Error("unexpected argument '" + positionals[0] + "'");
  }
  if (words[0] == "record") {
    out.insert(out.begin() + 1, {"--detach", "--userns", "--owner", std::to_string(uid)});
    out.insert(out.end(), words.begin() + static_cast<long>(std::min(i, words.size())),
               words.end());
  } else if (words[0] == "sessions") {
    out.insert(out.end(), {"--owner", std::to_string(uid)});
  } else if (i < words.size()) {
    throw Error(words[0] + " takes no command");
  }
  return out;
}

UserRequests::UserRequests(std::string socket_path, gid_t group, std::string deja_exe,
                           std::string store_dir, OwnerOf owner_of)
    : path_(std::move(socket_path)),
      deja_exe_(std::move(deja_exe)),
      store_dir_(std::move(store_dir)),
      group_(group),
      owner_of_(std::move(owner_of)) {
  const std::string dir = path_.substr(0, path_.rfind('/'));
  if (!dir.empty()) make_dirs(dir, 0755);
  // A socket left by a daemon that died is replaced; anything else there is not ours.
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) throw Error(path_ + " exists and is no socket: remove it");
    ::unlink(path_.c_str());
  }
  listen_ = ScopedFd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listen_) throw_errno("socket", path_);
  sockaddr_un a = address(path_);
  // Made owner-only, then opened to the group: never reachable by others in between.
  mode_t old = ::umask(077);
  int bound = ::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::umask(old);
  if (bound != 0) throw_errno("bind", path_);
  if (::chown(path_.c_str(), 0, group_) != 0) throw_errno("chown", path_);
  if (::chmod(path_.c_str(), 0660) != 0) throw_errno("chmod", path_);
  if (::listen(listen_.get(), 16) != 0) throw_errno("listen", path_);
}

UserRequests::~UserRequests() {
  ::unlink(path_.c_str());
}

std::vector<int> UserRequests::fds() const {
  std::vector<int> out = {listen_.get()};
  for (const auto& [fd, c] : clients_) out.push_back(c.pidfd ? c.pidfd.get() : fd);
  return out;
}

void UserRequests::ready(int fd) {
  if (fd == listen_.get()) return accept_one();
  for (auto& [conn, c] : clients_) {
    if (c.pidfd && c.pidfd.get() == fd) return finished(c);
    if (!c.pidfd && conn == fd) return request(c);
  }
}

// Whether the peer is in the group: its credentials as the kernel recorded them at
// connect(), supplementary groups included.
bool UserRequests::member(int conn, uid_t uid, gid_t gid) const {
  if (uid == 0 || gid == group_) return true;
  gid_t groups[256];
  socklen_t len = sizeof groups;
  if (::getsockopt(conn, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0) return false;
  return std::find(groups, groups + len / sizeof(gid_t), group_) != groups + len / sizeof(gid_t);
}

void UserRequests::accept_one() {
  ScopedFd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!conn) return;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return;
  if (!member(conn.get(), cred.uid, cred.gid)) {
    std::fprintf(stderr, "deja daemon: refused uid %u (pid %d): not in group %u\n", cred.uid,
                 cred.pid, group_);
    send_answer(conn.get(), "error user " + std::to_string(cred.uid) +
                                " is not in the group allowed to use the service");
    return;
  }
  const int fd = conn.get();
  clients_[fd] = Client{std::move(conn), cred.uid};
}

void UserRequests::request(Client& c) {
  const int fd = c.conn.get();
  std::string msg(kMaxRequest, '\0');
  iovec iov{msg.data(), msg.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0 && errno == EAGAIN) return;
  std::vector<ScopedFd> passed;
  for (cmsghdr* h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
    if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
      for (size_t k = 0; k < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++k)
        passed.emplace_back(reinterpret_cast<int*>(CMSG_DATA(h))[k]);
  if (n <= 0 || passed.size() != 2 || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
    if (n > 0) send_answer(fd, "error the request was not one command with stdout and stderr");
    clients_.erase(fd);
    return;
  }
  msg.resize(static_cast<size_t>(n));
  std::vector<std::string> words;
  try {
    words = service_command(split_words(msg), c.uid, owner_of_);
  } catch (const Error& e) {
    send_answer(fd, std::string("error ") + e.what());
    clients_.erase(fd);
    return;
  }
  words.insert(words.begin(), {deja_exe_, "--store", store_dir_});
  std::fprintf(stderr, "deja daemon: uid %u: deja %s\n", c.uid, words[3].c_str());
  pid_t pid = -1;
  try {
    pid = spawn_in_own_session(words, passed[0].get(), passed[1].get());
  } catch (const Error& e) {
    send_answer(fd, std::string("error the service could not start the command: ") + e.what());
    clients_.erase(fd);
    return;
  }
  c.pid = pid;
  c.pidfd = ScopedFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!c.pidfd) {
    // Cannot happen on this kernel; without a pidfd the child is waited for here.
    int status = 0;
    ::waitpid(pid, &status, 0);
    send_answer(fd, "exit " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 1));
    clients_.erase(fd);
  }
}

void UserRequests::finished(Client& c) {
  siginfo_t info{};
  ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(c.pidfd.get()), &info, WEXITED);
  int status = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
  send_answer(c.conn.get(), "exit " + std::to_string(status));
  clients_.erase(c.conn.get());
}

int run_through_service(const std::string& socket_path, const std::vector<std::string>& words) {
  ScopedFd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!s) throw_errno("socket", socket_path);
  sockaddr_un a = address(socket_path);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw Error("cannot reach the deja service at " + socket_path + ": " + std::strerror(errno) +
                " (is `deja daemon --users GROUP` running, and are you in GROUP?)");
  std::string msg;
  for (const auto& w : words) msg += w + '\0';
  if (msg.size() > kMaxRequest) throw Error("the command line is too long for the service");
  iovec iov{msg.data(), msg.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  cmsghdr* h = CMSG_FIRSTHDR(&m);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(2 * sizeof(int));
  const int out[2] = {1, 2};
  std::memcpy(CMSG_DATA(h), out, sizeof out);
  std::fflush(stdout);
  // A refused peer is answered at once and the connection closed: the answer is still
  // there to read after a failed send.
  const int sent = ::sendmsg(s.get(), &m, MSG_NOSIGNAL) < 0 ? errno : 0;
  if (sent != 0 && sent != EPIPE && sent != ECONNRESET) throw_errno("sendmsg", socket_path, sent);
  char answer[4096];
  ssize_t n = ::recv(s.get(), answer, sizeof answer - 1, 0);
  // The service closed the connection with our request unread, which resets it: the reset is
  // reported once, before the answer queued ahead of it.
  if (n < 0 && errno == ECONNRESET) n = ::recv(s.get(), answer, sizeof answer - 1, 0);
  if (n <= 0 && sent != 0) throw_errno("sendmsg", socket_path, sent);
  if (n <= 0) throw Error("the deja service at " + socket_path + " closed the connection");
  std::string text(answer, static_cast<size_t>(n));
  if (text.rfind("exit ", 0) == 0) return std::atoi(text.c_str() + 5);
  throw Error(text.rfind("error ", 0) == 0 ? text.substr(6) : text);
}

}  // namespace deja::service
