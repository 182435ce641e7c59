// The windows of a session's X server as the recorder sees them from outside the session:
// each top-level window's application (WM_CLASS), title and place, and which one has the
// keyboard focus. Kept up to date from X events, so a still desktop costs no requests.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "display/Rect.h"

struct xcb_connection_t;

namespace deja::display {

/// A top-level window: the application's own window, placed where its frame (if a window
/// manager gave it one) is on the screen.
struct WindowInfo {
  uint32_t xid = 0;      // the application's window (the one holding WM_CLASS)
  std::string app;       // WM_CLASS class, e.g. "XTerm"
  std::string instance;  // WM_CLASS instance, e.g. "xterm"
  std::string title;     // _NET_WM_NAME, else WM_NAME
  Rect box;              // its frame on the screen
  uint32_t pid = 0;      // _NET_WM_PID, as the session sees it (0: not set)
  bool operator==(const WindowInfo&) const = default;
};

/// The X server held still (GrabServer): while this lives the server serves no other client,
/// so nothing is drawn. Destroying it releases the server (UngrabServer, sent at once).
class ServerGrab {
 public:
  explicit ServerGrab(xcb_connection_t* conn) : conn_(conn) {}
  ~ServerGrab();
  ServerGrab(const ServerGrab&) = delete;
  ServerGrab& operator=(const ServerGrab&) = delete;

 private:
  xcb_connection_t* conn_;
};

/// One X connection to the session's server through its unix socket. Owned by one thread.
class WindowTracker {
 public:
  /// Connects to the X server listening on `socket_path`; throws Error naming the socket
  /// when that fails.
  explicit WindowTracker(const std::string& socket_path);
  ~WindowTracker();
  WindowTracker(const WindowTracker&) = delete;
  WindowTracker& operator=(const WindowTracker&) = delete;

  /// Handles the events that arrived since the last call (never waits) and, if windows
  /// appeared, moved, went or were renamed, reads them again. Returns whether windows()
  /// changed. Throws Error when the connection is gone (the server exited).
  bool update();
  /// The mapped top-level windows, bottom of the stack first.
  const std::vector<WindowInfo>& windows() const { return windows_; }
  /// The top-level window that has the keyboard focus (the one under the pointer when
  /// focus follows the pointer); none for the root or an unmanaged window. One round trip.
  std::optional<uint32_t> focus();
  /// Holds the server still, once it has finished the request it is serving: the grab and
  /// a round trip. None when the server has not answered within `wait` (it is stopped,
  /// e.g. frozen for a checkpoint, or starved of CPU); the grab is then released as soon
  /// as it gets to it. Throws Error when the connection is gone.
  std::unique_ptr<ServerGrab> hold_server(std::chrono::milliseconds wait);
  /// A text property of the root window (e.g. AT_SPI_BUS); none when unset. Round trips.
  std::optional<std::string> root_property(const char* name);

 private:
  void read_windows();
  std::optional<uint32_t> toplevel_of(uint32_t window);
  void check_connection() const;

  std::string socket_path_;
  xcb_connection_t* conn_ = nullptr;
  uint32_t root_ = 0;
  uint32_t atom_wm_state_ = 0, atom_net_wm_name_ = 0, atom_utf8_ = 0, atom_net_wm_pid_ = 0;
  std::vector<WindowInfo> windows_;
  std::vector<uint32_t> frames_;  // windows_[i]'s child of the root
};

}  // namespace deja::display
