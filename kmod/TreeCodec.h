// Converts a TreeState to image records and back. The record layout is in ImageFormat.h.
#pragma once

#include <string>
#include <vector>

#include "kmod/ImageWriter.h"
#include "kmod/TreeState.h"

namespace deja::kmod {

/// Where a written image put each page record's data: what a later incremental image needs
/// to refer to it.
struct PageLocation {
  VPid pid;
  uint64_t addr = 0, count = 0;
  uint64_t offset = 0;  // of the data, from the start of the image
  uint32_t crc = 0;     // CRC32C of the data
};
struct ImageLayout {
  uint64_t bytes = 0;
  std::vector<PageLocation> pages;
};

/// Streams `tree` as an image to `fd` (no seeks): full, or incremental when some extents
/// refer to older images. Returns its size and where its page data went.
ImageLayout write_tree_image(const TreeState& tree, int fd, const std::string& name);

/// The same image, into `out` (cleared first; its capacity is reused) instead of an fd.
ImageLayout encode_tree_image(const TreeState& tree, std::string& out, const std::string& name);
/// The same as chunks that borrow `tree`'s page data (it must outlive them).
ImageLayout encode_tree_image(const TreeState& tree, image::ImageChunks& out,
                              const std::string& name);

/// Reads a whole image; throws deja::Error on any damage or inconsistency.
TreeState read_tree_image(int fd, const std::string& name);

/// Convenience wrappers for image files.
ImageLayout write_tree_image_file(const TreeState& tree, const std::string& path);
TreeState read_tree_image_file(const std::string& path);
/// For a revive: the image mapped, its page data left in place (PageExtent::mapped) with its
/// checksums in `unverified`, checked by fill_skeleton as it writes the pages (or all at once
/// by check_mapped_pages, PageRefs.h).
TreeState read_tree_image_mapped(const std::string& path);

}  // namespace deja::kmod
