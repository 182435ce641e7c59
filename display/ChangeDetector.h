// Finds what changed on the screen since the last look, tile by tile, and keeps the
// recorder's copy of the screen up to date by copying only the changed tiles.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "display/Frame.h"
#include "display/Rect.h"

namespace deja::display {

/// Compares a live framebuffer with the last copy taken of it. The comparison is a plain
/// memcmp per tile row, stopping at the first difference in each tile, so a still screen
/// costs one read of the framebuffer per poll and no writes.
class ChangeDetector {
 public:
  static constexpr int kTileWidth = 64;
  static constexpr int kTileHeight = 16;

  ChangeDetector(int width, int height);

  /// Compares `src` (rows `src_stride` bytes apart, same size as this detector) with the
  /// copy, brings changed tiles into the copy and returns their rectangles (empty when the
  /// screen did not change). The first call reports the whole screen.
  ///
  /// The X server draws while the copy is taken, so tiles copied one after the other may
  /// come from different moments (a scrolling terminal showed a line twice). After bringing
  /// changes in, the whole screen is compared again kSettleInterval later, and again while
  /// that finds changes, up to kSettleRounds times: a comparison that finds nothing shows
  /// that the copy is the screen as it was when that comparison began, one moment, and one
  /// that lasted kSettleInterval at least: a client that draws a window in parts (xterm
  /// redraws line by line) has finished, unless it paused longer than that. Not proof
  /// against the X server itself being descheduled mid-request for longer than that (seen
  /// at load 10 on 2 cores): that needs the server held still while copying.
  std::vector<Rect> update(const uint8_t* src, size_t src_stride);
  /// Whether the copy is one moment of the screen: false when the screen kept changing
  /// through all the comparisons of the last update().
  bool consistent() const { return consistent_; }

  const Frame& frame() const { return copy_; }

  static constexpr int kSettleRounds = 8;
  static constexpr std::chrono::microseconds kSettleInterval{2000};

 private:
  // One comparison of the whole screen, bringing changed tiles in.
  std::vector<Rect> pass(const uint8_t* src, size_t src_stride);

  Frame copy_;
  bool consistent_ = true;
  bool first_ = true;
  std::vector<char> changed_;  // per tile column of the current band
};

}  // namespace deja::display
