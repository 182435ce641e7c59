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

// Whether `read` lies inside `line`'s box (with slack): a reading of part of it.
bool inside(const Rect& read, const Rect& line) {
  return read.x >= line.x - kBoxSlack && read.right() <= line.right() + kBoxSlack &&
         read.y >= line.y - kBoxSlack && read.bottom() <= line.bottom() + kBoxSlack;
}

}  // namespace

uint64_t ink_hash(const Frame& screen, const Rect& box) {
  const Rect r = box.clipped(screen.width, screen.height);
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (int y = r.y; y < r.bottom(); ++y) {
    const uint8_t* p = screen.row(y) + size_t(r.x) * 4;
    for (size_t i = 0; i < size_t(r.w) * 4; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  return h ^ (uint64_t(uint32_t(r.w)) << 32 | uint32_t(r.h));
}

Rect TextTracker::widen(const Rect& changed) const {
  Rect out = changed;
  for (const Tracked& t : open_)
    if (t.line.box.intersects(changed)) out = out.united(t.line.box);
  return out;
}

TextTracker::Update TextTracker::reconcile(const Rect& region, std::vector<TextLine> lines,
                                           const Frame* screen) {
  Update up;
  std::vector<Tracked> kept;
  for (Tracked& t : open_) {
    if (!t.line.box.intersects(region)) {
      kept.push_back(std::move(t));
      continue;
    }
    if (screen && t.ink && ink_hash(*screen, t.line.box) == *t.ink) {
      std::erase_if(lines, [&](const TextLine& l) { return inside(l.box, t.line.box); });
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

void TextTracker::track(int64_t id, const TextLine& line, const Frame* screen) {
  std::optional<uint64_t> ink;
  if (screen) ink = ink_hash(*screen, line.box);
  open_.push_back({id, line, ink});
}

std::vector<int64_t> TextTracker::close_all() {
  std::vector<int64_t> ids;
  for (const Tracked& t : open_) ids.push_back(t.id);
  open_.clear();
  return ids;
}

}  // namespace deja::display
