#include "display/XSocket.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "base/Error.h"

namespace deja::display {

ScopedFd connect_x_socket(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) throw Error("X socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ScopedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket", path);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw_errno("connect", path);
  return fd;
}

}  // namespace deja::display
