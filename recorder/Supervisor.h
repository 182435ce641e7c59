// The recorder process that owns one session: it started the container, answers control
// requests, keeps the checkpoint cadence and marks the session stopped when it ends.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "db/Catalog.h"
#include "base/Cgroup.h"
#include "recorder/Checkpointer.h"
#include "recorder/Container.h"
#include "recorder/ControlChannel.h"
#include "recorder/Session.h"

namespace deja::recorder {

class Supervisor {
 public:
  Supervisor(const snapshot::Store& store, db::Catalog& catalog, const std::string& id,
             Cgroup cgroup, ContainerInit init, double interval);
  /// Serves until the session ends; returns the session command's exit status.
  /// `on_end` runs once the session's processes are gone, before the session is marked
  /// stopped, so whatever it finishes (the screen recording) is complete when a caller of
  /// `deja stop` gets its answer.
  int run(const std::function<void()>& on_end);

 private:
  void serve_request();
  void on_tick();
  void stop_processes();
  int reap_init();

  const snapshot::Store& store_;
  db::Catalog& catalog_;
  std::string id_;
  Cgroup cgroup_;
  ContainerInit init_;
  ControlServer control_;
  Checkpointer checkpointer_;
  ScopedFd timer_;  // the checkpoint cadence; invalid when disabled
  std::vector<ControlServer::Request> stop_requests_;
  std::string last_tick_error_;
  int backoff_ = 1;        // ticks between tries while the same failure repeats
  int ticks_to_skip_ = 0;
  bool init_exited_ = false;
  int exit_status_ = 0;
};

}  // namespace deja::recorder
