// `deja daemon`: the service that owns recording for a store. It watches every running
// session's recorder (by pidfd), and when one dies it starts a new recorder (`deja attach`)
// for the session at once; sessions found without a recorder when it starts are adopted the
// same way. It also applies the retention policy every so often. Stopping it leaves the
// recorders running: they are sessions' recorders, not its own.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "recorder/Retention.h"
#include "snapshot/Store.h"

namespace deja::service {

struct DaemonOptions {
  double scan_seconds = 1.0;       // how often the catalog is read for new sessions
  double retention_seconds = 600;  // between retention passes; 0: never
  recorder::RetentionPolicy policy;
  double keep_screen_seconds = 30 * 86400;  // screen recordings older than this go
  uint64_t budget_bytes = 0;                // of the store's file system; 0: no budget
  std::string deja_exe;  // the deja binary each adopted session's recorder runs
  /// Users of this group may ask for sessions of their own on `service_socket`
  /// (UserRequests.h); unset: no socket.
  std::optional<gid_t> users_group;
  std::string service_socket;
};

/// Serves until SIGTERM or SIGINT; returns 0.
int run_daemon(const snapshot::Store& store, const DaemonOptions& options);

}  // namespace deja::service
