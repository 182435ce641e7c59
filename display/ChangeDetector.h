// Finds what changed on the screen since the last look, tile by tile, and keeps the
// recorder's copy of the screen up to date by copying only the changed tiles.
#pragma once

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
  std::vector<Rect> update(const uint8_t* src, size_t src_stride);

  const Frame& frame() const { return copy_; }

 private:
  Frame copy_;
  bool first_ = true;
  std::vector<char> changed_;  // per tile column of the current band
};

}  // namespace deja::display
