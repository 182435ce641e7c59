// Incremental chains: an image may hold, instead of a page's bytes, a reference
// <CRID, offset, CRC32C> to the bytes in an older image. These functions make such
// references and resolve them back into data before a revive (or a compaction, which is a
// resolve followed by writing a full image).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "kmod/TreeCodec.h"
#include "kmod/TreeState.h"

namespace deja::kmod {

/// Returns `length` bytes at `offset` of the image with CRID `crid`.
using PageFetcher = std::function<std::string(Crid crid, uint64_t offset, uint64_t length)>;

/// A fetcher that reads image files; `path_of` maps a CRID to its image file.
PageFetcher image_file_fetcher(std::function<std::string(Crid)> path_of);

/// Makes the pages `tree` inherits from its table base (`inherited` ranges) inline: reads the
/// base image from `path_of`, resolves it (recursively, with `fetch`) and copies the ranges.
/// Throws deja::Error when the base does not hold an inherited page. Then call
/// resolve_page_refs for the tree's own references.
void inherit_pages(TreeState& tree, const std::function<std::string(Crid)>& path_of,
                   const PageFetcher& fetch);

/// Replaces every referenced extent of `tree` with its bytes, checking each one's CRC32C.
/// Throws deja::Error naming the CRID and offset of anything missing or damaged.
void resolve_page_refs(TreeState& tree, const PageFetcher& fetch);

/// For a revive: points every referenced extent of `tree` at its bytes in its image, mapped
/// (PageExtent::mapped), and adds their checksums to `tree.unverified` instead of reading them.
/// Throws deja::Error naming the CRID and offset of an image that does not hold them.
void map_page_refs(TreeState& tree, const std::function<std::string(Crid)>& path_of);

/// Checks every checksum in `tree.unverified` (on both cores) and clears it. Throws
/// deja::Error naming the image and where it is damaged.
void check_mapped_pages(TreeState& tree);

/// Turns the extents of `tree` whose bytes are exactly those written in image `base` (as
/// `layout` records) into references to it. The caller then writes `tree` as an
/// incremental image with `base` among its ancestors. Returns the pages referenced.
uint64_t refer_to_image(TreeState& tree, Crid base, const ImageLayout& layout);

}  // namespace deja::kmod
