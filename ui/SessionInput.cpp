#include "ui/SessionInput.h"

#include <unistd.h>
#include <xcb/xcb.h>
#include <xcb/xtest.h>

#include <cstdlib>
#include <memory>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "display/XSocket.h"

namespace deja::ui {

namespace {

template <typename T>
using Reply = std::unique_ptr<T, decltype(&std::free)>;

}  // namespace

xcb_connection_t* connect_session_x(const std::string& socket_path) {
  ScopedFd fd = display::connect_x_socket(socket_path);
  // The session's Xvfb runs with -ac: no authority needed. XCB owns the fd from here.
  xcb_connection_t* conn = xcb_connect_to_fd(fd.release(), nullptr);
  if (xcb_connection_has_error(conn)) {
    xcb_disconnect(conn);
    throw Error("the X server on " + socket_path + " refused the connection");
  }
  return conn;
}

SessionInput::SessionInput(const std::string& socket_path) : socket_path_(socket_path) {
  conn_ = connect_session_x(socket_path);
  const xcb_setup_t* setup = xcb_get_setup(conn_);
  xcb_screen_t* screen = xcb_setup_roots_iterator(setup).data;
  root_ = screen->root;
  width_ = screen->width_in_pixels;
  height_ = screen->height_in_pixels;
  Reply<xcb_test_get_version_reply_t> version(
      xcb_test_get_version_reply(conn_, xcb_test_get_version(conn_, 2, 2), nullptr), &std::free);
  if (!version) {
    xcb_disconnect(conn_);
    throw Error("the X server on " + socket_path + " has no XTEST extension to send input with");
  }
  min_keycode_ = setup->min_keycode;
  const int count = setup->max_keycode - setup->min_keycode + 1;
  Reply<xcb_get_keyboard_mapping_reply_t> map(
      xcb_get_keyboard_mapping_reply(
          conn_, xcb_get_keyboard_mapping(conn_, setup->min_keycode, count), nullptr),
      &std::free);
  if (map) {
    keysyms_per_code_ = map->keysyms_per_keycode;
    const xcb_keysym_t* syms = xcb_get_keyboard_mapping_keysyms(map.get());
    keysyms_.assign(syms, syms + xcb_get_keyboard_mapping_keysyms_length(map.get()));
  }
}

SessionInput::~SessionInput() {
  if (alive()) release_all();
  xcb_disconnect(conn_);
}

bool SessionInput::alive() {
  while (xcb_generic_event_t* e = xcb_poll_for_event(conn_)) std::free(e);
  return xcb_connection_has_error(conn_) == 0;
}

uint8_t SessionInput::keycode_for(uint32_t keysym, uint32_t fallback) const {
  auto has = [&](size_t code) {
    for (int col = 0; col < keysyms_per_code_; ++col)
      if (keysyms_[code * keysyms_per_code_ + col] == keysym) return true;
    return false;
  };
  // The host's own key when the session's map has the keysym on it too (the same layout):
  // then the modifiers, which travel as key events of their own, mean the same there.
  if (fallback >= min_keycode_ && (fallback - min_keycode_ + 1) * keysyms_per_code_ <= keysyms_.size() &&
      has(fallback - min_keycode_))
    return static_cast<uint8_t>(fallback);
  // Else the first keycode with the keysym in any column, so '!' is the '1' key while
  // Shift is down, as on the host.
  for (int col = 0; col < keysyms_per_code_; ++col)
    for (size_t code = 0; code * keysyms_per_code_ + col < keysyms_.size(); ++code)
      if (keysym != 0 && keysyms_[code * keysyms_per_code_ + col] == keysym)
        return static_cast<uint8_t>(min_keycode_ + code);
  return static_cast<uint8_t>(fallback);
}

void SessionInput::fake(uint8_t type, uint8_t detail, int16_t x, int16_t y) {
  xcb_test_fake_input(conn_, type, detail, XCB_CURRENT_TIME, root_, x, y, 0);
  xcb_flush(conn_);
}

void SessionInput::key(uint32_t keysym, uint32_t host_keycode, bool press) {
  if (!press) {
    auto it = keys_down_.find(host_keycode);
    if (it == keys_down_.end()) return;  // it went down before the viewer had focus
    fake(XCB_KEY_RELEASE, it->second);
    keys_down_.erase(it);
    return;
  }
  uint8_t code = keycode_for(keysym, host_keycode);
  if (code == 0) return;
  keys_down_[host_keycode] = code;
  fake(XCB_KEY_PRESS, code);
}

void SessionInput::button(int number, bool press) {
  if (press)
    buttons_down_.insert(number);
  else
    buttons_down_.erase(number);
  fake(press ? XCB_BUTTON_PRESS : XCB_BUTTON_RELEASE, static_cast<uint8_t>(number));
}

void SessionInput::motion(int x, int y) {
  fake(XCB_MOTION_NOTIFY, 0, static_cast<int16_t>(x), static_cast<int16_t>(y));
}

void SessionInput::release_all() {
  for (auto [host, code] : keys_down_) fake(XCB_KEY_RELEASE, code);
  for (int b : buttons_down_) fake(XCB_BUTTON_RELEASE, static_cast<uint8_t>(b));
  keys_down_.clear();
  buttons_down_.clear();
}

}  // namespace deja::ui
