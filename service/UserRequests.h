// Users of a configured group ask `deja daemon` to record sessions for them: a unix socket
// whose peers are identified by the kernel (SO_PEERCRED, SO_PEERGROUPS), never by what they
// say. Each request is one deja command line; the daemon runs it as the store's owner, with
// the user's id added (`--owner UID`) and limited to the user's own sessions, and writes its
// output to the user's own stdout and stderr, passed along with the request
// (docs/service.md, "Users").
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/ScopedFd.h"

namespace deja::service {

/// The socket users talk to unless told otherwise (`deja --service PATH`, $DEJA_SERVICE).
inline constexpr const char* kDefaultServiceSocket = "/run/deja/service.sock";

/// The owner of session `id` (unset: the store's owner); nullopt when there is no such
/// session.
using OwnerOf = std::function<std::optional<std::optional<int64_t>>(const std::string& id)>;

/// The deja command words (after `deja --store STORE`) the service runs for user `uid`
/// asking for `words`, e.g. {"stop", "ab12cd34"}. Throws Error with a line for the user
/// when the command or an option is not offered through the service, or the session is not
/// theirs. Sessions recorded for a user always run in a user namespace (`--userns`): the
/// user gets no root of the host's.
std::vector<std::string> service_command(const std::vector<std::string>& words, uid_t uid,
                                         const OwnerOf& owner_of);

/// The listening socket and the requests in progress. Runs inside the daemon's poll loop:
/// fds() says what to poll, ready() handles one that polled readable. Never blocks.
class UserRequests {
 public:
  /// Binds `socket_path` (its folder made 0755; the socket root:`group` 0660) for users
  /// of `group`; `deja_exe` and `store_dir` form the commands it runs.
  UserRequests(std::string socket_path, gid_t group, std::string deja_exe,
               std::string store_dir, OwnerOf owner_of);
  ~UserRequests();
  UserRequests(const UserRequests&) = delete;
  UserRequests& operator=(const UserRequests&) = delete;

  std::vector<int> fds() const;
  void ready(int fd);

 private:
  struct Client {
    ScopedFd conn;
    uid_t uid = 0;
    pid_t pid = -1;  // the command run for it, once it runs
    ScopedFd pidfd;
  };
  void accept_one();
  void request(Client& c);
  void finished(Client& c);
  bool member(int conn, uid_t uid, gid_t gid) const;

  std::string path_, deja_exe_, store_dir_;
  gid_t group_;
  OwnerOf owner_of_;
  ScopedFd listen_;
  std::map<int, Client> clients_;  // by connection fd
};

/// The client side: sends `words` to the service at `socket_path` with this process's
/// stdout and stderr, and returns the command's exit status.
int run_through_service(const std::string& socket_path, const std::vector<std::string>& words);

}  // namespace deja::service
