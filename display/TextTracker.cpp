#include "display/TextTracker.h"

#include <cstdlib>
#include <cstring>

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

TextTracker::Read TextTracker::plan(const Rect& changed, const Frame& screen,
                                    const Frame* before) const {
  const bool comparable =
      before && before->width == screen.width && before->height == screen.height;
  Read read{changed.clipped(screen.width, screen.height), {}};
  // Whether `t` is as when read, its rows across the area included.
  auto unchanged = [&](const Tracked& t) {
    if (!comparable || !t.ink) return false;
    const Rect band = Rect{read.area.x, t.line.box.y, read.area.w, t.line.box.h}.clipped(
        screen.width, screen.height);
    for (int y = band.y; y < band.bottom(); ++y)
      if (std::memcmp(screen.row(y) + size_t(band.x) * 4, before->row(y) + size_t(band.x) * 4,
                      size_t(band.w) * 4) != 0)
        return false;
    return ink_hash(screen, t.line.box) == *t.ink;
  };
  // Widening brings in more of other lines' rows, which may then have changed too.
  for (bool grew = true; grew;) {
    grew = false;
    for (const Tracked& t : open_) {
      if (!t.line.box.intersects(read.area) || unchanged(t)) continue;
      const Rect wider = read.area.united(t.line.box).clipped(screen.width, screen.height);
      if (wider != read.area) read.area = wider, grew = true;
    }
  }
  for (const Tracked& t : open_)
    if (t.line.box.intersects(read.area) && unchanged(t)) read.known.push_back(t.line.box);
  return read;
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
