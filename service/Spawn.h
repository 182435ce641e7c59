// Starting the programs the daemon runs (recorders, users' commands): each in its own
// process session, so a Ctrl-C to a daemon run in a terminal does not end them.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace deja::service {

/// Forks and execs `argv` (argv[0] a path) with stdin /dev/null and stdout, stderr on
/// `out` and `err`, every signal unblocked. Returns its pid; throws on a failed fork.
pid_t spawn_in_own_session(std::vector<std::string> argv, int out, int err);

}  // namespace deja::service
