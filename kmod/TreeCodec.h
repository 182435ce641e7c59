// Converts a TreeState to image records and back. The record layout is in ImageFormat.h.
#pragma once

#include <string>

#include "kmod/ImageWriter.h"
#include "kmod/TreeState.h"

namespace deja::kmod {

/// Streams `tree` as a full image to `fd` (no seeks). Returns the bytes written.
uint64_t write_tree_image(const TreeState& tree, int fd, const std::string& name);

/// Reads a whole image; throws deja::Error on any damage or inconsistency.
TreeState read_tree_image(int fd, const std::string& name);

/// Convenience wrappers for image files.
uint64_t write_tree_image_file(const TreeState& tree, const std::string& path);
TreeState read_tree_image_file(const std::string& path);

}  // namespace deja::kmod
