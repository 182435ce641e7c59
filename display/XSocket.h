// Connecting to a session's X server from outside the session.
#pragma once

#include <string>

#include "base/ScopedFd.h"

namespace deja::display {

/// A stream socket connected to the X server listening on `path` (a session's
/// <subvolume>/tmp/.X11-unix/X0). The server's abstract socket lives in the session's
/// network namespace, out of reach, so the path is connected to directly. Throws Error
/// naming the syscall, the path and errno.
ScopedFd connect_x_socket(const std::string& path);

}  // namespace deja::display
