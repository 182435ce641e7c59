#include "recorder/ControlChannel.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "base/Error.h"
#include "db/Catalog.h"

namespace deja::recorder {

namespace {

// FNV-1a of the store path keeps the abstract name short and unique per store.
std::string socket_name(const std::string& store_dir, const std::string& id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : store_dir) h = (h ^ c) * 1099511628211ull;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return std::string("deja/") + buf + "/" + id;
}

socklen_t make_address(const std::string& name, sockaddr_un& addr) {
  addr = {};
  addr.sun_family = AF_UNIX;
  // Abstract namespace: a leading NUL, no file.
  std::memcpy(addr.sun_path + 1, name.data(), std::min(name.size(), sizeof addr.sun_path - 2));
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
}

// The recorder as the catalog knows it: the store's owner, and the process that recorded
// itself as the session's supervisor (none yet while the session is starting).
struct RecorderIdentity {
  uid_t uid;
  std::optional<pid_t> pid;
};

RecorderIdentity expected_recorder(const std::string& store_dir, const std::string& id) {
  struct stat st;
  if (::stat(store_dir.c_str(), &st) != 0) throw_errno("stat", store_dir);
  RecorderIdentity who{st.st_uid, std::nullopt};
  db::Catalog catalog(store_dir + "/catalog.db");
  if (auto row = catalog.find_session(id); row && row->supervisor_pid)
    who.pid = static_cast<pid_t>(*row->supervisor_pid);
  return who;
}

// Whether the process that listens on `s` is the session's recorder. Another process can
// bind the same abstract name (a local user squatting it, or a program started after the
// recorder died); it gets no request and its answer is never believed.
bool peer_is_recorder(int s, const std::string& store_dir, const std::string& id) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    throw_errno("getsockopt SO_PEERCRED", "recorder of session " + id);
  RecorderIdentity who = expected_recorder(store_dir, id);
  if (cred.uid == who.uid && (!who.pid || cred.pid == *who.pid)) return true;
  std::fprintf(stderr,
               "deja: session %s: the process on its control socket (pid %d, uid %u) is not its "
               "recorder (pid %s, uid %u in the catalog); ignoring it\n",
               id.c_str(), static_cast<int>(cred.pid), static_cast<unsigned>(cred.uid),
               who.pid ? std::to_string(*who.pid).c_str() : "none yet",
               static_cast<unsigned>(who.uid));
  return false;
}

}  // namespace

ControlServer::ControlServer(const std::string& store_dir, const std::string& session_id)
    : listen_(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) {
  if (!listen_) throw_errno("socket", "recorder control");
  std::string name = socket_name(store_dir, session_id);
  sockaddr_un addr;
  socklen_t len = make_address(name, addr);
  if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0)
    throw_errno("bind", "@" + name);
  if (::listen(listen_.get(), 16) != 0) throw_errno("listen", "@" + name);
}

std::optional<ControlServer::Request> ControlServer::accept_request() {
  ScopedFd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn) return std::nullopt;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
  if (cred.uid != 0 && cred.uid != ::geteuid()) return std::nullopt;
  pollfd p{conn.get(), POLLIN, 0};
  if (::poll(&p, 1, 2000) <= 0) return std::nullopt;
  char buf[4096];
  ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
  if (n <= 0) return std::nullopt;
  return Request{std::move(conn), std::string(buf, static_cast<size_t>(n))};
}

void ControlServer::reply(Request& r, const std::string& text) {
  // The client may have given up; a failed reply must not stop the recorder.
  ::send(r.conn.get(), text.data(), text.size(), MSG_NOSIGNAL);
}

std::optional<std::string> control_request(const std::string& store_dir,
                                           const std::string& session_id,
                                           const std::string& request,
                                           std::chrono::milliseconds timeout) {
  ScopedFd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!s) throw_errno("socket", "recorder control");
  sockaddr_un addr;
  socklen_t len = make_address(socket_name(store_dir, session_id), addr);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    if (errno == ECONNREFUSED || errno == ENOENT) return std::nullopt;
    throw_errno("connect", "recorder of session " + session_id);
  }
  if (!peer_is_recorder(s.get(), store_dir, session_id)) return std::nullopt;
  if (::send(s.get(), request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    // The recorder closed its socket (it is ending) while our connection waited in its
    // backlog: no recorder answers, as below for a reset seen by recv.
    if (errno == ECONNRESET || errno == EPIPE) return std::nullopt;
    throw_errno("send", "recorder of session " + session_id);
  }
  pollfd p{s.get(), POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (r == 0)
    throw Error("the recorder of session " + session_id + " did not answer within " +
                std::to_string(timeout.count() / 1000) + " s");
  char buf[65536];
  ssize_t n = ::recv(s.get(), buf, sizeof buf, 0);
  // Reset: the recorder closed its socket while our connection waited in its backlog.
  if (n < 0 && errno == ECONNRESET) return std::nullopt;
  if (n < 0) throw_errno("recv", "recorder of session " + session_id);
  if (n == 0) throw Error("the recorder of session " + session_id + " closed without answering");
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace deja::recorder
