#include "display/TextTracker.h"

#include <cstdlib>

namespace deja::display {
namespace {

// Tesseract's boxes for the same pixels move by a pixel or two with the crop around them.
constexpr int kBoxSlack = 3;

bool same_place(const Rect& a, const Rect& b) {
  return std::abs(a.x - b.x) <= kBoxSlack && std::abs(a.y - b.y) <= kBoxSlack &&
         std::abs(a.right() - b.right()) <= kBoxSlack &&
         std::abs(a.bottom() - b.bottom()) <= kBoxSlack;
}

}  // namespace

Rect TextTracker::widen(const Rect& changed) const {
  Rect out = changed;
  for (const Tracked& t : open_)
    if (t.line.box.intersects(changed)) out = out.united(t.line.box);
  return out;
}

TextTracker::Update TextTracker::reconcile(const Rect& region, std::vector<TextLine> lines) {
  Update up;
  std::vector<Tracked> kept;
  for (Tracked& t : open_) {
    if (!t.line.box.intersects(region)) {
      kept.push_back(std::move(t));
      continue;
    }
    bool found = false;
    for (auto it = lines.begin(); it != lines.end(); ++it) {
      if (it->text == t.line.text && same_place(it->box, t.line.box)) {
        lines.erase(it);
        found = true;
        break;
      }
    }
    if (found)
      kept.push_back(std::move(t));
    else
      up.closed.push_back(t.id);
  }
  open_ = std::move(kept);
  up.opened = std::move(lines);
  return up;
}

void TextTracker::track(int64_t id, const TextLine& line) {
  open_.push_back({id, line});
}

std::vector<int64_t> TextTracker::close_all() {
  std::vector<int64_t> ids;
  for (const Tracked& t : open_) ids.push_back(t.id);
  open_.clear();
  return ids;
}

}  // namespace deja::display
