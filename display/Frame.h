// A screen image owned by the recorder: what the screen showed at one moment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace deja::display {

/// Pixels in Xvfb's layout (4 bytes each: B, G, R, unused), rows packed without padding.
struct Frame {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> bgrx;

  Frame() = default;
  Frame(int w, int h) : width(w), height(h), bgrx(size_t(w) * size_t(h) * 4) {}
  size_t stride() const { return size_t(width) * 4; }
  const uint8_t* row(int y) const { return bgrx.data() + size_t(y) * stride(); }
  uint8_t* row(int y) { return bgrx.data() + size_t(y) * stride(); }
};

}  // namespace deja::display
