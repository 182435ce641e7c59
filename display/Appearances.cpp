#include "display/Appearances.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>
#include <string>

namespace deja::display {
namespace {

// Share of the smaller box that must lie in the other, and of the shorter text's words
// that must be in the other text (OCR misreads a word now and then).
constexpr double kBoxShare = 0.5;
constexpr double kWordShare = 0.6;
// Share of the shorter time on screen that must also be the other's.
constexpr double kTimeShare = 0.5;

int64_t area(const Rect& r) {
  return r.empty() ? 0 : int64_t(r.w) * r.h;
}

std::set<std::string> words_of(const std::string& text) {
  std::set<std::string> out;
  std::string w;
  for (char c : text + " ") {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      w += char(std::tolower(static_cast<unsigned char>(c)));
    } else if (!w.empty()) {
      out.insert(std::move(w));
      w.clear();
    }
  }
  return out;
}

bool similar_text(const std::string& a, const std::string& b) {
  const std::set<std::string> wa = words_of(a), wb = words_of(b);
  const std::set<std::string>& fewer = wa.size() <= wb.size() ? wa : wb;
  const std::set<std::string>& more = wa.size() <= wb.size() ? wb : wa;
  if (fewer.empty()) return false;
  size_t common = 0;
  for (const std::string& w : fewer) common += more.count(w);
  return double(common) >= kWordShare * double(fewer.size());
}

// Whether most of the shorter time on screen is also the other's. A line edited at some
// moment is read by each source a little apart: the bus's next version overlaps OCR's
// last reading of the old one briefly, but not for most of either.
bool overlapping_times(const TextHit& a, const TextHit& b) {
  constexpr int64_t kOpen = std::numeric_limits<int64_t>::max() / 4;  // still on screen
  const int64_t a_end = a.last_ms.value_or(kOpen), b_end = b.last_ms.value_or(kOpen);
  const int64_t common = std::min(a_end, b_end) - std::max(a.first_ms, b.first_ms);
  const int64_t shorter = std::min(a_end - a.first_ms, b_end - b.first_ms);
  return common >= 0 && double(common) >= kTimeShare * double(shorter);
}

std::vector<std::string> sources_of(const TextHit& hit) {
  return hit.sources.empty() ? std::vector<std::string>{hit.source} : hit.sources;
}

// Adds `hit`'s times and source to `into`, taking its text and box if it is the bus's.
void absorb(TextHit& into, const TextHit& hit) {
  if (hit.source == "atspi" && into.source != "atspi") {
    into.text = hit.text;
    into.box = hit.box;
    into.source = hit.source;
  }
  into.first_ms = std::min(into.first_ms, hit.first_ms);
  if (!into.last_ms || !hit.last_ms)
    into.last_ms.reset();
  else
    into.last_ms = std::max(*into.last_ms, *hit.last_ms);
  for (const std::string& s : sources_of(hit))
    if (std::find(into.sources.begin(), into.sources.end(), s) == into.sources.end())
      into.sources.push_back(s);
  std::sort(into.sources.begin(), into.sources.end());  // "atspi" < "ocr"
}

}  // namespace

bool same_appearance(const TextHit& a, const TextHit& b) {
  if (a.session != b.session || a.app != b.app || a.window != b.window) return false;
  const int64_t common = area(a.box.intersected(b.box));
  if (common == 0 || double(common) < kBoxShare * double(std::min(area(a.box), area(b.box))))
    return false;
  return overlapping_times(a, b) && similar_text(a.text, b.text);
}

std::vector<TextHit> merge_appearances(const std::vector<TextHit>& hits, size_t limit) {
  std::vector<TextHit> out;
  std::vector<std::vector<const TextHit*>> members;
  for (const TextHit& hit : hits) {
    size_t i = 0;
    for (; i < out.size(); ++i)
      if (std::any_of(members[i].begin(), members[i].end(),
                      [&](const TextHit* m) { return same_appearance(*m, hit); }))
        break;
    if (i == out.size()) {
      if (out.size() == limit) continue;
      out.push_back(hit);
      out.back().sources = sources_of(hit);
      members.emplace_back();
    } else {
      absorb(out[i], hit);
    }
    members[i].push_back(&hit);
  }
  return out;
}

}  // namespace deja::display
