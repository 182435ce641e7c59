#include "display/ChangeDetector.h"

#include <algorithm>
#include <cstring>
#include <thread>

namespace deja::display {

ChangeDetector::ChangeDetector(int width, int height)
    : copy_(width, height), changed_((width + kTileWidth - 1) / kTileWidth) {}

std::vector<Rect> ChangeDetector::update(const uint8_t* src, size_t src_stride, const Hold& hold) {
  std::vector<Rect> out = pass(src, src_stride);
  consistent_ = out.empty();
  held_ = false;
  if (consistent_) return out;
  if (std::shared_ptr<void> still = hold ? hold() : nullptr) {
    std::vector<Rect> more = pass(src, src_stride);
    out.insert(out.end(), more.begin(), more.end());
    consistent_ = held_ = true;
    return out;
  }
  for (int round = 0; round < kSettleRounds && !consistent_; ++round) {
    std::this_thread::sleep_for(kSettleInterval);
    std::vector<Rect> more = pass(src, src_stride);
    consistent_ = more.empty();
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

std::vector<Rect> ChangeDetector::pass(const uint8_t* src, size_t src_stride) {
  std::vector<Rect> out;
  const int cols = static_cast<int>(changed_.size());
  for (int band = 0; band < copy_.height; band += kTileHeight) {
    const int band_h = std::min(kTileHeight, copy_.height - band);
    std::fill(changed_.begin(), changed_.end(), first_);
    int left = first_ ? 0 : cols;  // tiles already known changed need no more comparing
    for (int y = band; y < band + band_h && left > 0; ++y) {
      const uint8_t* s = src + size_t(y) * src_stride;
      const uint8_t* d = copy_.row(y);
      for (int c = 0; c < cols; ++c) {
        if (changed_[c]) continue;
        size_t off = size_t(c) * kTileWidth * 4;
        size_t len = size_t(std::min(kTileWidth, copy_.width - c * kTileWidth)) * 4;
        if (std::memcmp(s + off, d + off, len) != 0) {
          changed_[c] = 1;
          --left;
        }
      }
    }
    for (int c = 0; c < cols; ++c) {
      if (!changed_[c]) continue;
      Rect r{c * kTileWidth, band, std::min(kTileWidth, copy_.width - c * kTileWidth), band_h};
      for (int y = r.y; y < r.bottom(); ++y)
        std::memcpy(copy_.row(y) + size_t(r.x) * 4, src + size_t(y) * src_stride + size_t(r.x) * 4,
                    size_t(r.w) * 4);
      // Neighbouring changed tiles in one band become one rectangle.
      if (!out.empty() && out.back().y == r.y && out.back().right() == r.x)
        out.back().w += r.w;
      else
        out.push_back(r);
    }
  }
  first_ = false;
  return out;
}

}  // namespace deja::display
