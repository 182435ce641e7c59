#include "recorder/ControlChannel.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/Error.h"

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
  if (::send(s.get(), request.data(), request.size(), MSG_NOSIGNAL) < 0)
    throw_errno("send", "recorder of session " + session_id);
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
