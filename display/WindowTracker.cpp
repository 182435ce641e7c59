#include "display/WindowTracker.h"

#include <poll.h>
#include <xcb/xcb.h>
#include <xcb/xcbext.h>  // xcb_poll_for_reply: a round trip that gives up in time

#include <cstdlib>
#include <cstring>
#include <memory>

#include "base/Error.h"
#include "display/XSocket.h"

namespace deja::display {
namespace {

template <typename T>
using Reply = std::unique_ptr<T, decltype(&std::free)>;

template <typename T>
Reply<T> reply(T* r) {
  return Reply<T>(r, &std::free);
}

uint32_t intern(xcb_connection_t* c, const char* name) {
  auto r = reply(xcb_intern_atom_reply(
      c, xcb_intern_atom(c, 0, static_cast<uint16_t>(std::strlen(name)), name), nullptr));
  return r ? r->atom : XCB_NONE;
}

xcb_get_property_cookie_t ask_property(xcb_connection_t* c, uint32_t window, uint32_t atom) {
  // Titles and class names longer than 4 KiB are cut: they only label search hits.
  return xcb_get_property(c, 0, window, atom, XCB_GET_PROPERTY_TYPE_ANY, 0, 1024);
}

// The property's bytes; nullopt when the window has no such property (or is gone).
std::optional<std::string> property_text(xcb_connection_t* c, xcb_get_property_cookie_t ck) {
  auto r = reply(xcb_get_property_reply(c, ck, nullptr));
  if (!r || r->type == XCB_NONE) return std::nullopt;
  const char* v = static_cast<const char*>(xcb_get_property_value(r.get()));
  return std::string(v, static_cast<size_t>(xcb_get_property_value_length(r.get())));
}

// Events after which the windows are read again: a top-level window appeared, went,
// moved or was restacked (the root's substructure), or an application renamed its window.
bool changes_windows(const xcb_generic_event_t* e) {
  switch (e->response_type & ~0x80) {
    case XCB_MAP_NOTIFY:
    case XCB_UNMAP_NOTIFY:
    case XCB_DESTROY_NOTIFY:
    case XCB_CONFIGURE_NOTIFY:
    case XCB_REPARENT_NOTIFY:
    case XCB_PROPERTY_NOTIFY:
      return true;
    default:
      return false;
  }
}

}  // namespace

WindowTracker::WindowTracker(const std::string& socket_path) : socket_path_(socket_path) {
  ScopedFd fd = connect_x_socket(socket_path);
  // The session's Xvfb runs with -ac: no authority needed. XCB owns the fd from here.
  conn_ = xcb_connect_to_fd(fd.release(), nullptr);
  if (xcb_connection_has_error(conn_)) {
    xcb_disconnect(conn_);
    throw Error("the X server on " + socket_path + " refused the connection");
  }
  root_ = xcb_setup_roots_iterator(xcb_get_setup(conn_)).data->root;
  atom_wm_state_ = intern(conn_, "WM_STATE");
  atom_net_wm_name_ = intern(conn_, "_NET_WM_NAME");
  atom_utf8_ = intern(conn_, "UTF8_STRING");
  atom_net_wm_pid_ = intern(conn_, "_NET_WM_PID");
  const uint32_t mask = XCB_EVENT_MASK_SUBSTRUCTURE_NOTIFY;
  xcb_change_window_attributes(conn_, root_, XCB_CW_EVENT_MASK, &mask);
  read_windows();
}

std::optional<std::string> WindowTracker::root_property(const char* name) {
  const uint32_t atom = intern(conn_, name);
  check_connection();
  if (!atom) return std::nullopt;
  std::optional<std::string> v = property_text(conn_, ask_property(conn_, root_, atom));
  check_connection();
  return v;
}

WindowTracker::~WindowTracker() {
  xcb_disconnect(conn_);
}

void WindowTracker::check_connection() const {
  if (xcb_connection_has_error(conn_))
    throw Error("the connection to the X server on " + socket_path_ + " was lost");
}

bool WindowTracker::update() {
  bool dirty = false;
  while (xcb_generic_event_t* e = xcb_poll_for_event(conn_)) {
    dirty = dirty || changes_windows(e);
    std::free(e);
  }
  check_connection();
  if (!dirty) return false;
  std::vector<WindowInfo> before = std::move(windows_);
  read_windows();
  return windows_ != before;
}

// Requests are sent in batches before any reply is read: a desktop of ten windows costs a
// few round trips, not dozens.
void WindowTracker::read_windows() {
  windows_.clear();
  frames_.clear();
  auto tree = reply(xcb_query_tree_reply(conn_, xcb_query_tree(conn_, root_), nullptr));
  check_connection();
  if (!tree) return;
  const xcb_window_t* kids = xcb_query_tree_children(tree.get());
  const int n = xcb_query_tree_children_length(tree.get());
  std::vector<xcb_get_window_attributes_cookie_t> attrs(n);
  std::vector<xcb_get_geometry_cookie_t> geoms(n);
  std::vector<xcb_get_property_cookie_t> states(n), classes(n);
  std::vector<xcb_query_tree_cookie_t> subtrees(n);
  for (int i = 0; i < n; ++i) {
    attrs[i] = xcb_get_window_attributes(conn_, kids[i]);
    geoms[i] = xcb_get_geometry(conn_, kids[i]);
    states[i] = ask_property(conn_, kids[i], atom_wm_state_);
    classes[i] = ask_property(conn_, kids[i], XCB_ATOM_WM_CLASS);
    subtrees[i] = xcb_query_tree(conn_, kids[i]);
  }
  struct Candidate {
    uint32_t frame;
    Rect box;
    std::optional<uint32_t> client;
    std::vector<uint32_t> children;
    std::vector<xcb_get_property_cookie_t> child_states;
  };
  std::vector<Candidate> found;
  for (int i = 0; i < n; ++i) {
    auto attr = reply(xcb_get_window_attributes_reply(conn_, attrs[i], nullptr));
    auto geom = reply(xcb_get_geometry_reply(conn_, geoms[i], nullptr));
    const bool managed = property_text(conn_, states[i]).has_value();
    const bool has_class = property_text(conn_, classes[i]).has_value();
    auto sub = reply(xcb_query_tree_reply(conn_, subtrees[i], nullptr));
    if (!attr || !geom || !sub || attr->map_state != XCB_MAP_STATE_VIEWABLE) continue;
    Candidate c{kids[i], Rect{geom->x, geom->y, geom->width + 2 * geom->border_width,
                              geom->height + 2 * geom->border_width}};
    // Without a window manager the application's window is the root's child itself; a
    // window manager's frame holds it one level down, marked by WM_STATE.
    if (managed || has_class) c.client = kids[i];
    const xcb_window_t* inner = xcb_query_tree_children(sub.get());
    for (int k = 0; !managed && k < xcb_query_tree_children_length(sub.get()); ++k) {
      c.children.push_back(inner[k]);
      c.child_states.push_back(ask_property(conn_, inner[k], atom_wm_state_));
    }
    found.push_back(std::move(c));
  }
  for (Candidate& c : found)
    for (size_t k = 0; k < c.children.size(); ++k)
      if (property_text(conn_, c.child_states[k])) c.client = c.children[k];
  for (const Candidate& c : found) {
    if (!c.client) continue;  // a bare frame or decoration: not an application's window
    WindowInfo w{*c.client, "", "", "", c.box};
    auto cls = ask_property(conn_, w.xid, XCB_ATOM_WM_CLASS);
    auto net_name = ask_property(conn_, w.xid, atom_net_wm_name_);
    auto name = ask_property(conn_, w.xid, XCB_ATOM_WM_NAME);
    auto pid = ask_property(conn_, w.xid, atom_net_wm_pid_);
    // Renames arrive as property events from here on.
    const uint32_t mask = XCB_EVENT_MASK_PROPERTY_CHANGE;
    xcb_change_window_attributes(conn_, w.xid, XCB_CW_EVENT_MASK, &mask);
    // WM_CLASS is "instance\0class\0".
    std::string cv = property_text(conn_, cls).value_or("");
    size_t nul = cv.find('\0');
    w.instance = cv.substr(0, nul);
    if (nul != std::string::npos) w.app = cv.substr(nul + 1, cv.find('\0', nul + 1) - nul - 1);
    std::optional<std::string> title = property_text(conn_, net_name);
    if (!title || title->empty()) title = property_text(conn_, name);
    w.title = title.value_or("");
    // A CARDINAL: one 32-bit number in the server's (here: the host's) byte order.
    std::string pv = property_text(conn_, pid).value_or("");
    if (pv.size() == sizeof w.pid) std::memcpy(&w.pid, pv.data(), sizeof w.pid);
    windows_.push_back(std::move(w));
    frames_.push_back(c.frame);
  }
  check_connection();
}

std::optional<uint32_t> WindowTracker::toplevel_of(uint32_t window) {
  for (size_t i = 0; i < windows_.size(); ++i)
    if (windows_[i].xid == window || frames_[i] == window) return windows_[i].xid;
  // A window inside an application's window (a toolkit's focus proxy): walk up to the
  // root's child, a round trip a level.
  for (int depth = 0; depth < 8 && window != XCB_NONE && window != root_; ++depth) {
    auto t = reply(xcb_query_tree_reply(conn_, xcb_query_tree(conn_, window), nullptr));
    if (!t) return std::nullopt;
    if (t->parent == root_) {
      for (size_t i = 0; i < frames_.size(); ++i)
        if (frames_[i] == window) return windows_[i].xid;
      return std::nullopt;
    }
    window = t->parent;
  }
  return std::nullopt;
}

std::optional<uint32_t> WindowTracker::focus() {
  auto f = reply(xcb_get_input_focus_reply(conn_, xcb_get_input_focus(conn_), nullptr));
  check_connection();
  if (!f) return std::nullopt;
  if (f->focus != XCB_INPUT_FOCUS_POINTER_ROOT && f->focus != XCB_NONE && f->focus != root_)
    return toplevel_of(f->focus);
  // Focus follows the pointer (twm's default): the window under it has the keyboard.
  auto p = reply(xcb_query_pointer_reply(conn_, xcb_query_pointer(conn_, root_), nullptr));
  if (!p || p->child == XCB_NONE) return std::nullopt;
  return toplevel_of(p->child);
}

ServerGrab::~ServerGrab() {
  xcb_ungrab_server(conn_);
  xcb_flush(conn_);
}

std::unique_ptr<ServerGrab> WindowTracker::hold_server(std::chrono::milliseconds wait) {
  xcb_grab_server(conn_);
  auto grab = std::make_unique<ServerGrab>(conn_);
  // The server answers only once it has handled the grab before it: from then on it
  // serves this connection alone, and every other client's request is either whole or
  // not begun (the server handles one request at a time).
  const unsigned int sequence = xcb_get_input_focus(conn_).sequence;
  xcb_flush(conn_);
  const auto end = std::chrono::steady_clock::now() + wait;
  for (;;) {
    void* answer = nullptr;
    xcb_generic_error_t* error = nullptr;
    if (xcb_poll_for_reply(conn_, sequence, &answer, &error)) {
      std::free(answer);
      std::free(error);
      check_connection();
      return grab;
    }
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      xcb_discard_reply(conn_, sequence);
      return nullptr;
    }
    pollfd p{xcb_get_file_descriptor(conn_), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
}

}  // namespace deja::display
