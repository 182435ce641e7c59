// How commands talk to a session's recorder: an abstract unix socket named after the store
// and the session. It vanishes with the recorder, so a dead recorder is never mistaken for a
// live one and leaves no file behind.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "base/ScopedFd.h"

namespace deja::recorder {

/// The recorder's side: accepts one request per connection.
class ControlServer {
 public:
  ControlServer(const std::string& store_dir, const std::string& session_id);
  int fd() const { return listen_.get(); }
  /// Accepts a pending connection and reads its request; nullopt when none was pending or the
  /// peer is not allowed (another user).
  struct Request {
    ScopedFd conn;
    std::string text;
  };
  std::optional<Request> accept_request();
  static void reply(Request& r, const std::string& text);
  /// Stops accepting: new clients see no recorder, pending requests keep their connections.
  void close() { listen_.reset(); }

 private:
  ScopedFd listen_;
};

/// Sends `request` to the session's recorder and returns its reply. Returns nullopt when no
/// recorder is listening for that session, or when the listening process is not the recorder
/// the catalog records for it (SO_PEERCRED: the store owner's uid and the supervisor's pid).
std::optional<std::string> control_request(const std::string& store_dir,
                                           const std::string& session_id,
                                           const std::string& request,
                                           std::chrono::milliseconds timeout);

}  // namespace deja::recorder
