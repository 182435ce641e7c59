#include "display/WindowHistory.h"

#include <algorithm>
#include <cstdio>

#include "base/Error.h"
#include "display/DisplayIndex.h"

namespace deja::display {
namespace {

constexpr int64_t kReconnectMs = 5000;
constexpr int64_t kFocusCheckMs = 1000;
// How long a copy waits for the server to be held: a poll's period at the default 5 a
// second. A server that takes longer is stopped or starved, and so not drawing much.
constexpr std::chrono::milliseconds kHoldWait{200};

// A window keeps its row while it stays mapped with the same application and title;
// moving or restacking it changes only where its text is looked up.
bool same_row(const WindowInfo& a, const WindowInfo& b) {
  return a.xid == b.xid && a.app == b.app && a.instance == b.instance && a.title == b.title;
}

}  // namespace

std::optional<int64_t> window_at(const std::vector<WindowArea>& areas, const Rect& box) {
  const int cx = box.x + box.w / 2, cy = box.y + box.h / 2;
  for (auto it = areas.rbegin(); it != areas.rend(); ++it)
    if (cx >= it->box.x && cx < it->box.right() && cy >= it->box.y && cy < it->box.bottom())
      return it->id;
  return std::nullopt;
}

WindowHistory::WindowHistory(DisplayIndex& index, std::string session, std::string x_socket,
                             WindowExclusions excluded)
    : index_(index),
      session_(std::move(session)),
      x_socket_(std::move(x_socket)),
      excluded_(std::move(excluded)) {}

bool WindowHistory::poll(int64_t now_ms, bool screen_changed) {
  if (x_socket_.empty()) return false;
  if (!x_) {
    if (now_ms < next_connect_ms_) return false;
    connect(now_ms);
    return x_.has_value();
  }
  try {
    const bool moved = x_->update() || unrecorded_change_;
    unrecorded_change_ = false;
    if (moved) record_windows(now_ms);
    if (moved || screen_changed || now_ms >= next_focus_ms_) record_focus(now_ms);
    return moved;
  } catch (const Error& e) {
    lost(e, now_ms);
    return true;
  }
}

std::optional<std::vector<Rect>> WindowHistory::read_hidden(int64_t now_ms) {
  if (!x_) return std::nullopt;
  try {
    if (x_->update()) unrecorded_change_ = true;
  } catch (const Error& e) {
    lost(e, now_ms);
    return std::nullopt;
  }
  return hidden();
}

std::optional<std::vector<Rect>> WindowHistory::hidden() const {
  if (!x_) return std::nullopt;
  return hidden_areas(x_->windows(), excluded_);
}

std::unique_ptr<ServerGrab> WindowHistory::hold_server(int64_t now_ms) {
  if (!x_) return nullptr;
  try {
    return x_->hold_server(kHoldWait);
  } catch (const Error& e) {
    lost(e, now_ms);
    return nullptr;
  }
}

void WindowHistory::lost(const Error& e, int64_t now_ms) {
  if (!reported_)
    std::fprintf(stderr, "deja: windows of session %s: %s; retrying\n", session_.c_str(), e.what());
  reported_ = true;
  close_all(now_ms);
  x_.reset();
  next_connect_ms_ = now_ms + kReconnectMs;
}

void WindowHistory::connect(int64_t now_ms) {
  next_connect_ms_ = now_ms + kReconnectMs;
  try {
    x_.emplace(x_socket_);
  } catch (const Error& e) {
    // The server may still be starting; say so once, and keep trying.
    if (!reported_)
      std::fprintf(stderr, "deja: windows of session %s are not recorded yet: %s\n",
                   session_.c_str(), e.what());
    reported_ = true;
    return;
  }
  record_windows(now_ms);
  record_focus(now_ms);
}

void WindowHistory::record_windows(int64_t now_ms) {
  std::vector<WindowInfo> now;
  for (const WindowInfo& w : x_->windows())
    if (!excluded_.matches(w)) now.push_back(w);
  std::vector<int64_t> closed;
  std::vector<WindowInfo> opened;
  for (const Open& o : open_)
    if (std::none_of(now.begin(), now.end(),
                     [&](const WindowInfo& w) { return same_row(w, o.info); }))
      closed.push_back(o.id);
  for (const WindowInfo& w : now)
    if (std::none_of(open_.begin(), open_.end(),
                     [&](const Open& o) { return same_row(w, o.info); }))
      opened.push_back(w);
  std::vector<int64_t> ids = index_.update_windows(session_, closed, opened, now_ms);
  // Rebuilt in the server's stacking order, with the latest place of each window.
  std::vector<Open> next;
  for (const WindowInfo& w : now) {
    auto old = std::find_if(open_.begin(), open_.end(),
                            [&](const Open& o) { return same_row(w, o.info); });
    if (old != open_.end()) {
      next.push_back({old->id, w});
    } else {
      size_t k = static_cast<size_t>(std::find(opened.begin(), opened.end(), w) - opened.begin());
      next.push_back({ids[k], w});
    }
  }
  open_ = std::move(next);
  // The focused window may have been renamed into a new row.
  if (focus_ &&
      std::none_of(open_.begin(), open_.end(), [&](const Open& o) { return o.id == *focus_; }))
    next_focus_ms_ = 0;
}

void WindowHistory::record_focus(int64_t now_ms) {
  next_focus_ms_ = now_ms + kFocusCheckMs;
  std::optional<uint32_t> xid = x_->focus();
  std::optional<int64_t> id;
  for (const Open& o : open_)
    if (xid && o.info.xid == *xid) id = o.id;
  if (id == focus_) return;
  index_.set_focus(session_, id, now_ms);
  focus_ = id;
}

void WindowHistory::close_all(int64_t now_ms) {
  std::vector<int64_t> ids;
  for (const Open& o : open_) ids.push_back(o.id);
  try {
    index_.update_windows(session_, ids, {}, now_ms);
    if (focus_) index_.set_focus(session_, std::nullopt, now_ms);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "deja: windows of session %s: %s\n", session_.c_str(), e.what());
  }
  open_.clear();
  focus_.reset();
}

std::vector<WindowArea> WindowHistory::areas() const {
  std::vector<WindowArea> out;
  for (const Open& o : open_) out.push_back({o.id, o.info.box});
  return out;
}

std::vector<ReadableWindow> WindowHistory::readable() const {
  if (!x_) return {};
  std::vector<std::optional<int64_t>> ids;
  std::vector<bool> excluded;
  for (const WindowInfo& w : x_->windows()) {
    std::optional<int64_t> id;
    excluded.push_back(excluded_.matches(w));
    // Not yet in a row (read while the server was held, not polled yet): not read either.
    for (const Open& o : open_)
      if (!excluded.back() && same_row(w, o.info)) id = o.id;
    ids.push_back(id);
  }
  return readable_windows(x_->windows(), ids, excluded);
}

std::string WindowHistory::accessibility_bus(int64_t now_ms) {
  if (!x_) return "";
  try {
    return x_->root_property("AT_SPI_BUS").value_or("");
  } catch (const Error& e) {
    lost(e, now_ms);
    return "";
  }
}

void WindowHistory::finish(int64_t now_ms) {
  close_all(now_ms);
  x_.reset();
}

}  // namespace deja::display
