#include "display/WindowExclusions.h"

#include <fnmatch.h>

#include <algorithm>
#include <cstring>

namespace deja::display {
namespace {

bool any_match(const std::vector<std::string>& patterns, const std::string& text) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
    return ::fnmatch(p.c_str(), text.c_str(), FNM_CASEFOLD) == 0;
  });
}

}  // namespace

bool WindowExclusions::matches(const WindowInfo& w) const {
  return any_match(apps, w.app) || any_match(apps, w.instance) || any_match(titles, w.title);
}

std::vector<Rect> subtract(const Rect& a, const Rect& b) {
  if (!a.intersects(b)) return {a};
  std::vector<Rect> out;
  const int top = std::max(a.y, b.y), bottom = std::min(a.bottom(), b.bottom());
  if (b.y > a.y) out.push_back({a.x, a.y, a.w, b.y - a.y});
  if (b.bottom() < a.bottom()) out.push_back({a.x, b.bottom(), a.w, a.bottom() - b.bottom()});
  if (b.x > a.x) out.push_back({a.x, top, b.x - a.x, bottom - top});
  if (b.right() < a.right()) out.push_back({b.right(), top, a.right() - b.right(), bottom - top});
  return out;
}

std::vector<Rect> hidden_areas(const std::vector<WindowInfo>& windows,
                               const WindowExclusions& exclusions) {
  std::vector<Rect> out;
  for (size_t i = 0; i < windows.size(); ++i) {
    if (!exclusions.matches(windows[i])) continue;
    std::vector<Rect> visible = {windows[i].box};
    for (size_t above = i + 1; above < windows.size(); ++above) {
      if (exclusions.matches(windows[above])) continue;  // hidden in its own right
      std::vector<Rect> rest;
      for (const Rect& r : visible) {
        std::vector<Rect> left = subtract(r, windows[above].box);
        rest.insert(rest.end(), left.begin(), left.end());
      }
      visible = std::move(rest);
    }
    out.insert(out.end(), visible.begin(), visible.end());
  }
  return out;
}

std::vector<Rect> MaskedScreen::update(const Frame& screen, std::vector<Rect> changed,
                                       const std::vector<Rect>& hidden) {
  const bool moved = hidden != hidden_;
  // What was black comes back from the screen where it is not hidden any more.
  if (moved) changed.insert(changed.end(), hidden_.begin(), hidden_.end());
  hidden_ = hidden;
  // Only the visible parts of a change are brought across: a change wholly hidden (an
  // excluded clock ticking) changes nothing recorded, and makes no frame.
  std::vector<Rect> out;
  for (const Rect& c : changed) {
    std::vector<Rect> visible = {c.clipped(frame_.width, frame_.height)};
    for (const Rect& h : hidden_) {
      std::vector<Rect> rest;
      for (const Rect& v : visible) {
        std::vector<Rect> left = subtract(v, h);
        rest.insert(rest.end(), left.begin(), left.end());
      }
      visible = std::move(rest);
    }
    for (const Rect& r : visible) {
      // The detector reports whole tiles: the visible part of a tile whose change was in
      // the hidden part is the same as before.
      bool differs = false;
      for (int y = r.y; y < r.bottom(); ++y) {
        uint8_t* to = frame_.row(y) + size_t(r.x) * 4;
        const uint8_t* from = screen.row(y) + size_t(r.x) * 4;
        if (std::memcmp(to, from, size_t(r.w) * 4) == 0) continue;
        std::memcpy(to, from, size_t(r.w) * 4);
        differs = true;
      }
      if (differs) out.push_back(r);
    }
  }
  if (!moved) return out;
  for (const Rect& h : hidden_) {
    const Rect r = h.clipped(frame_.width, frame_.height);
    if (r.empty()) continue;
    for (int y = r.y; y < r.bottom(); ++y)
      std::memset(frame_.row(y) + size_t(r.x) * 4, 0, size_t(r.w) * 4);
    out.push_back(r);
  }
  return out;
}

}  // namespace deja::display
