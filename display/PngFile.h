// Writes a screen image as a PNG file (with FFmpeg's PNG encoder, already a dependency).
#pragma once

#include <string>

#include "display/Frame.h"

namespace deja::display {

/// Writes `frame` to `path` as an RGB PNG, atomically (temporary file, fsync, rename).
void write_png(const Frame& frame, const std::string& path);

}  // namespace deja::display
