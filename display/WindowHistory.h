// The windows of a recorded session over time, kept in the catalog: each appearance of a
// top-level window (application and title) with the time range it was on screen, who had
// the keyboard focus when, and which window is where for the text read from the screen.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "display/AccessibleText.h"
#include "display/Rect.h"
#include "display/WindowExclusions.h"
#include "display/WindowTracker.h"

namespace deja {
class Error;
}

namespace deja::display {

class DisplayIndex;

/// A window on screen with its catalog row (display_windows.id).
struct WindowArea {
  int64_t id = 0;
  Rect box;
};

/// The topmost of `areas` (bottom first) holding the middle of `box`; none if none does.
std::optional<int64_t> window_at(const std::vector<WindowArea>& areas, const Rect& box);

/// Runs on the recorder's capture thread, beside the screen it records.
class WindowHistory {
 public:
  /// `x_socket`: the host path of the session's X server socket (empty: windows are not
  /// recorded). Windows matching `excluded` leave no row: neither their application and
  /// title nor their focus is recorded; hidden() says where they are.
  WindowHistory(DisplayIndex& index, std::string session, std::string x_socket,
                WindowExclusions excluded = {});

  /// Called at every poll of the screen: reads what the X server reported since, and
  /// checks the focus when the screen or the windows changed (or a second has passed).
  /// Connects when it is not connected, at most every few seconds; a lost or refused
  /// connection closes the open rows and is reported once, never thrown. Returns whether
  /// the windows are other than at the last call (or the connection is new).
  bool poll(int64_t now_ms, bool screen_changed);
  /// Reads the windows' places now (while the server is held, they are those of the
  /// screen), leaving the catalog to the next poll(); the areas to hide, as hidden().
  /// None when not connected.
  std::optional<std::vector<Rect>> read_hidden(int64_t now_ms);
  /// The parts of the screen the excluded windows showed when the windows were last read
  /// (hidden_areas); none when not connected, so where they are is not known.
  std::optional<std::vector<Rect>> hidden() const;
  /// Holds the session's X server still (see WindowTracker::hold_server); none when not
  /// connected or when the server does not answer in time. A lost connection is handled
  /// as in poll().
  std::unique_ptr<ServerGrab> hold_server(int64_t now_ms);
  /// The windows on screen now, bottom first.
  std::vector<WindowArea> areas() const;
  /// Every top-level window as last read, excluded ones too (with no row), bottom first,
  /// for the accessibility reader; empty when not connected.
  std::vector<ReadableWindow> readable() const;
  /// The session's accessibility bus address (the root window's AT_SPI_BUS); empty when
  /// not connected or not set. A round trip; a lost connection is handled as in poll().
  std::string accessibility_bus(int64_t now_ms);
  /// The recording ends: every open row closes at `now_ms`.
  void finish(int64_t now_ms);

 private:
  void connect(int64_t now_ms);
  void record_windows(int64_t now_ms);
  void record_focus(int64_t now_ms);
  void close_all(int64_t now_ms);
  void lost(const Error& e, int64_t now_ms);

  struct Open {
    int64_t id;
    WindowInfo info;
  };
  DisplayIndex& index_;
  std::string session_, x_socket_;
  WindowExclusions excluded_;
  std::optional<WindowTracker> x_;
  bool unrecorded_change_ = false;  // read_hidden() saw windows change
  std::vector<Open> open_;        // bottom first, as on screen
  std::optional<int64_t> focus_;  // display_windows id
  int64_t next_connect_ms_ = 0, next_focus_ms_ = 0;
  bool reported_ = false;
};

}  // namespace deja::display
