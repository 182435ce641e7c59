// Finds what changed on the screen since the last look, tile by tile, and keeps the
// recorder's copy of the screen up to date by copying only the changed tiles.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
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

  /// Holds the screen still until the token it returns is destroyed (the recorder grabs
  /// the X server); a null token when it cannot.
  using Hold = std::function<std::shared_ptr<void>()>;

  /// Compares `src` (rows `src_stride` bytes apart, same size as this detector) with the
  /// copy, brings changed tiles into the copy and returns their rectangles (empty when the
  /// screen did not change). The first call reports the whole screen.
  ///
  /// The X server draws while the copy is taken, so tiles copied one after the other may
  /// come from different moments (a scrolling terminal showed a line twice). So when the
  /// screen changed, the screen is held still with `hold` and compared once more, bringing
  /// in what changed meanwhile: the copy is then the screen as it is while held, one moment.
  /// A still screen is never held. Without a hold (no X connection, or the server did not
  /// answer in time) the whole screen is compared again kSettleInterval later, and again
  /// while that finds changes, up to kSettleRounds times: a comparison that finds nothing
  /// shows the copy is one moment, unless the X server was descheduled in the middle of a
  /// request for longer than that interval (seen at load 10 on 2 cores).
  std::vector<Rect> update(const uint8_t* src, size_t src_stride, const Hold& hold = {});
  /// Whether the copy is one moment of the screen: false when the screen kept changing
  /// through all the comparisons of the last update().
  bool consistent() const { return consistent_; }
  /// Whether the last update() took its copy with the screen held.
  bool held() const { return held_; }

  const Frame& frame() const { return copy_; }

  static constexpr int kSettleRounds = 8;
  static constexpr std::chrono::microseconds kSettleInterval{2000};

 private:
  // One comparison of the whole screen, bringing changed tiles in.
  std::vector<Rect> pass(const uint8_t* src, size_t src_stride);

  Frame copy_;
  bool consistent_ = true;
  bool held_ = false;
  bool first_ = true;
  std::vector<char> changed_;  // per tile column of the current band
};

}  // namespace deja::display
