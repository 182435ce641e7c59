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
  // A change wholly inside a hidden area changes nothing recorded (an excluded clock
  // ticking): no frame for it.
  std::erase_if(changed, [&](const Rect& c) {
    return std::any_of(hidden.begin(), hidden.end(), [&](const Rect& h) { return h.contains(c); });
  });
  if (hidden != hidden_) {
    // What was black comes back from the screen, what is hidden now goes black.
    changed.insert(changed.end(), hidden_.begin(), hidden_.end());
    changed.insert(changed.end(), hidden.begin(), hidden.end());
    hidden_ = hidden;
  }
  std::vector<Rect> out;
  for (const Rect& c : changed) {
    const Rect r = c.clipped(frame_.width, frame_.height);
    if (r.empty()) continue;
    for (int y = r.y; y < r.bottom(); ++y)
      std::memcpy(frame_.row(y) + size_t(r.x) * 4, screen.row(y) + size_t(r.x) * 4,
                  size_t(r.w) * 4);
    for (const Rect& h : hidden_) {
      if (!h.intersects(r)) continue;
      const int x0 = std::max(r.x, h.x), x1 = std::min(r.right(), h.right());
      for (int y = std::max(r.y, h.y); y < std::min(r.bottom(), h.bottom()); ++y)
        std::memset(frame_.row(y) + size_t(x0) * 4, 0, size_t(x1 - x0) * 4);
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace deja::display
