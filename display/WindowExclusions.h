// Windows kept out of a screen recording: the user names them by application or title, and
// the recorder blacks out where they are on every recorded frame, so their pixels are
// neither stored nor read for text (docs/recording-format.md, "Excluded windows").
#pragma once

#include <string>
#include <vector>

#include "display/Frame.h"
#include "display/Rect.h"
#include "display/WindowTracker.h"

namespace deja::display {

/// Which windows to keep out, as shell patterns (fnmatch, case-insensitive).
struct WindowExclusions {
  std::vector<std::string> apps;    // matched against WM_CLASS class and instance
  std::vector<std::string> titles;  // matched against the title

  bool empty() const { return apps.empty() && titles.empty(); }
  bool matches(const WindowInfo& w) const;
};

/// The parts of the screen to black out: each excluded window's box, less the parts that
/// windows stacked above it cover (those show the other window, which is recorded).
/// `windows` bottom first, as WindowTracker::windows gives them.
std::vector<Rect> hidden_areas(const std::vector<WindowInfo>& windows,
                               const WindowExclusions& exclusions);

/// `a` less `b`: up to four rectangles.
std::vector<Rect> subtract(const Rect& a, const Rect& b);

/// The screen as it is recorded: the recorder's copy of the screen with the hidden areas
/// black. Kept up to date area by area, so a frame costs a copy of what changed, not of
/// the screen.
class MaskedScreen {
 public:
  MaskedScreen(int width, int height) : frame_(width, height) {}

  /// Brings the visible parts of the `changed` areas of `screen` in (`hidden` stays black).
  /// Returns the areas whose recorded pixels may differ from before: those parts, plus,
  /// when the hidden areas moved, appeared or went, every area hidden before (now
  /// brought back from `screen`) or now (blacked out).
  std::vector<Rect> update(const Frame& screen, std::vector<Rect> changed,
                           const std::vector<Rect>& hidden);
  const Frame& frame() const { return frame_; }

 private:
  Frame frame_;
  std::vector<Rect> hidden_;
};

}  // namespace deja::display
