// A session's screen recording as its recorder runs it: started with the session (or when a
// new recorder adopts it), stopped while the user pauses, finished when the session ends.
#pragma once

#include <optional>
#include <string>

#include "display/ScreenRecorder.h"
#include "recorder/Supervisor.h"
#include "snapshot/Store.h"

namespace deja::recorder {

class SessionScreen {
 public:
  /// `framebuffer`: the host path of the session's Xvfb framebuffer; empty: no display.
  SessionScreen(const snapshot::Store& store, std::string session, std::string framebuffer);
  /// Starts recording (threads: call after the last fork). No-op without a display.
  void start();
  /// Finishes the open segment and its text; start() records again.
  void stop();
  /// What the supervisor calls: stop at the end and while paused, start again on resume.
  SupervisorHooks hooks();

 private:
  const snapshot::Store& store_;
  std::string session_, framebuffer_;
  std::optional<display::ScreenRecorder> recorder_;
};

}  // namespace deja::recorder
