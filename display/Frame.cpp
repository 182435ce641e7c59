#include "display/Frame.h"

#include <cstring>

#include "base/Error.h"

namespace deja::display {

Frame Frame::crop(const Rect& r) const {
  DEJA_CHECK(!r.empty() && r.x >= 0 && r.y >= 0 && r.right() <= width && r.bottom() <= height);
  Frame out(r.w, r.h);
  for (int y = 0; y < r.h; ++y)
    std::memcpy(out.row(y), row(r.y + y) + size_t(r.x) * 4, size_t(r.w) * 4);
  return out;
}

}  // namespace deja::display
