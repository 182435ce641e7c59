// Input into a session's X server from the host: keyboard and mouse events injected with
// the XTEST extension over a connection to the session's own X socket.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

struct xcb_connection_t;

namespace deja::ui {

/// A connection to the X server listening on `socket_path` (in the session's files, reached
/// from the host). Throws an Error naming the socket when it cannot connect.
xcb_connection_t* connect_session_x(const std::string& socket_path);

/// A connection to a session's X server (the unix socket its Xvfb listens on, reached
/// through the session's files from the host) that types and clicks into it as if its
/// own keyboard and mouse did. Not copyable; the connection closes with the object.
class SessionInput {
 public:
  /// Connects to the X server listening on `socket_path`. Throws an Error naming the
  /// socket when it cannot connect or the server lacks XTEST.
  explicit SessionInput(const std::string& socket_path);
  ~SessionInput();
  SessionInput(const SessionInput&) = delete;
  SessionInput& operator=(const SessionInput&) = delete;

  int screen_width() const { return width_; }
  int screen_height() const { return height_; }

  /// Presses the session's key for X keysym `keysym`, or releases the key pressed for
  /// `host_keycode` (the viewer's own keycode: the keysym may differ at release, as when
  /// Shift went up first). The host keycode is also used when the session's keymap
  /// lacks the keysym.
  void key(uint32_t keysym, uint32_t host_keycode, bool press);
  /// Releases every key and button still held (the viewer lost focus or closes).
  void release_all();
  /// Moves the pointer to screen pixel (x, y).
  void motion(int x, int y);
  /// X button 1 left, 2 middle, 3 right, 4/5 wheel up/down, 6/7 wheel left/right.
  void button(int number, bool press);
  /// False once the server has gone away (the session ended). Reads what the server
  /// sent (nothing is asked for but errors), which is how a closed socket is noticed.
  bool alive();

 private:
  uint8_t keycode_for(uint32_t keysym, uint32_t fallback) const;
  void fake(uint8_t type, uint8_t detail, int16_t x = 0, int16_t y = 0);

  std::string socket_path_;
  xcb_connection_t* conn_ = nullptr;
  uint32_t root_ = 0;
  int width_ = 0, height_ = 0;
  // The session's keyboard mapping: keysyms_per_code_ keysyms for each keycode from
  // min_keycode_ on.
  uint8_t min_keycode_ = 8;
  int keysyms_per_code_ = 0;
  std::vector<uint32_t> keysyms_;
  std::map<uint32_t, uint8_t> keys_down_;  // host keycode -> session keycode pressed
  std::set<int> buttons_down_;
};

}  // namespace deja::ui
