// An axis-aligned pixel rectangle on the screen, used for changed regions and text boxes.
#pragma once

#include <algorithm>

namespace deja::display {

struct Rect {
  int x = 0, y = 0, w = 0, h = 0;

  bool empty() const { return w <= 0 || h <= 0; }
  int right() const { return x + w; }
  int bottom() const { return y + h; }
  bool intersects(const Rect& o) const {
    return !empty() && !o.empty() && x < o.right() && o.x < right() && y < o.bottom() &&
           o.y < bottom();
  }
  /// The smallest rectangle holding both (an empty one holds nothing).
  Rect united(const Rect& o) const {
    if (empty()) return o;
    if (o.empty()) return *this;
    int l = std::min(x, o.x), t = std::min(y, o.y);
    return {l, t, std::max(right(), o.right()) - l, std::max(bottom(), o.bottom()) - t};
  }
  Rect clipped(int width, int height) const {
    int l = std::max(x, 0), t = std::max(y, 0);
    int r = std::min(right(), width), b = std::min(bottom(), height);
    return {l, t, std::max(r - l, 0), std::max(b - t, 0)};
  }
  /// The part of both (empty when they do not meet).
  Rect intersected(const Rect& o) const {
    int l = std::max(x, o.x), t = std::max(y, o.y);
    int r = std::min(right(), o.right()), b = std::min(bottom(), o.bottom());
    return {l, t, std::max(r - l, 0), std::max(b - t, 0)};
  }
  bool operator==(const Rect&) const = default;
};

}  // namespace deja::display
