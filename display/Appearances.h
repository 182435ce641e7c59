// One search hit per appearance of a text, whichever ways it was read: a GTK window's line
// is stored once from the pixels (OCR) and once from the accessibility bus (AT-SPI).
#pragma once

#include <cstddef>
#include <vector>

#include "display/DisplayIndex.h"

namespace deja::display {

/// Whether `a` and `b` are one appearance read two ways: the same session and window, boxes
/// mostly the same (one OCR line may hold a bus line and its neighbours), most of the
/// shorter time on screen shared (an edited line's next version starts about when the last
/// one ends), and most words of the shorter text in the other (OCR misreads a word now and
/// then).
bool same_appearance(const TextHit& a, const TextHit& b);

/// `hits` (best first) with each appearance once, at the place of its best hit, at most
/// `limit`: the text and box of the bus's reading where there is one (it is exact), the
/// earliest first and latest last time, and every source that saw it, "atspi" first.
std::vector<TextHit> merge_appearances(const std::vector<TextHit>& hits, size_t limit);

}  // namespace deja::display
