// Which recognised lines are on the screen right now, so each line is stored once with
// the time range it was visible instead of once per recognition pass.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "display/Frame.h"
#include "display/Rect.h"
#include "display/TextRecognizer.h"

namespace deja::display {

class TextTracker {
 public:
  struct Update {
    std::vector<int64_t> closed;   // ids of tracked lines no longer on screen
    std::vector<TextLine> opened;  // lines not seen before; call track() once stored
  };

  /// What to read for a change in `changed` of `screen`.
  struct Read {
    Rect area;                // to read
    std::vector<Rect> known;  // boxes of lines in it whose text stands: left out of the read
  };
  /// The area is `changed` widened to whole tracked lines it touches, so a line is always
  /// re-read entirely and never compared with half of itself. A tracked line it touches is
  /// not read again when its pixels are as when it was read and its rows, across the
  /// area, are as on `before` (the screen of the last pass, all of whose changes were
  /// read): a keystroke re-reads the line it changed, not the lines the change tiles and
  /// the widening pull in. A line whose row changed elsewhere (words typed after it) is
  /// read again whole, so its text stays one line. No `before`: every line is read.
  Read plan(const Rect& changed, const Frame& screen, const Frame* before) const;
  /// Compares what was just read inside `region` of `screen` with the lines tracked there:
  /// a line read again with the same text at the same place stays open, the others close.
  /// A tracked line whose pixels did not change since it was read stays open whatever is
  /// read there now (OCR of the same pixels in another crop may read them differently),
  /// and what is read inside it is dropped: an unchanged line is one appearance.
  Update reconcile(const Rect& region, std::vector<TextLine> lines, const Frame* screen = nullptr);
  /// Tracks a stored line, read from `screen` (none: compared by text alone).
  void track(int64_t id, const TextLine& line, const Frame* screen = nullptr);
  /// Stops tracking everything (the recording ends) and returns the ids that were open.
  std::vector<int64_t> close_all();

  size_t size() const { return open_.size(); }

 private:
  struct Tracked {
    int64_t id;
    TextLine line;
    std::optional<uint64_t> ink;  // fingerprint of its pixels when read
  };
  std::vector<Tracked> open_;
};

/// A fingerprint of the pixels of `box` (clipped to the screen) in `screen`.
uint64_t ink_hash(const Frame& screen, const Rect& box);

}  // namespace deja::display
