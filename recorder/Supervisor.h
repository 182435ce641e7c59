// The recorder process that owns one session: it started the container (or adopted a running
// session whose recorder died), answers control requests, keeps the checkpoint cadence,
// pauses and resumes recording, and marks the session stopped when it ends.
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

struct SupervisorHooks {
  /// Runs once the session's processes are gone, before the session is marked stopped, so
  /// whatever it finishes (the screen recording) is complete when a caller of `deja stop`
  /// gets its answer.
  std::function<void()> on_end;
  /// Stops (true) or starts again (false) what records besides checkpoints (the screen).
  std::function<void(bool paused)> on_pause;
};

/// The file a recorder touches every second: its time says until when a session whose
/// recorder died was recorded.
std::string heartbeat_path(const snapshot::Store& store, const std::string& id);

class Supervisor {
 public:
  /// `adopted`: the session's init is not this process's child (a new recorder re-attached
  /// to a running session): its exit status is read from the session's files. Binding the session's
  /// control socket here is what makes one recorder per session: a second one fails.
  Supervisor(const snapshot::Store& store, db::Catalog& catalog, const std::string& id,
             Cgroup cgroup, ContainerInit init, double interval, bool adopted = false);
  /// Serves until the session ends; returns the session command's exit status (0 when
  /// adopted and the init left none).
  int run(const SupervisorHooks& hooks);
  bool paused() const { return paused_; }
  /// Starts paused (an adopted session the user had paused).
  void start_paused() { paused_ = true; }

 private:
  void serve_request();
  void on_tick();
  void checkpoint_if_changed();
  void set_paused(bool paused);
  void beat();
  void watch_space();
  void stop_processes();
  void reap_init();

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
  std::optional<int> exit_status_;
  bool adopted_ = false;
  bool paused_ = false;
  const SupervisorHooks* hooks_ = nullptr;  // set while run() runs
  std::string heartbeat_;
  int64_t last_beat_ = 0;
  std::optional<snapshot::Room> room_;  // what watch_space() last found
};

}  // namespace deja::recorder
