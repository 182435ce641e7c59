#include "kmod/PageRefs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "kmod/Crc32c.h"
#include "kmod/ImageFormat.h"

namespace deja::kmod {

PageFetcher image_file_fetcher(std::function<std::string(Crid)> path_of) {
  // Each image stays open across the many extents it holds (a revive fetches thousands);
  // a long chain keeps only the most recent few open.
  constexpr size_t kMaxOpen = 64;
  auto open_images = std::make_shared<std::map<uint64_t, ScopedFd>>();
  return [path_of = std::move(path_of), open_images](Crid crid, uint64_t offset, uint64_t length) {
    std::string path = path_of(crid);
    auto image = open_images->find(crid.value);
    if (image == open_images->end()) {
      ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) throw_errno("open", "image " + path + " (CRID " + std::to_string(crid.value) + ")");
      if (open_images->size() >= kMaxOpen) open_images->erase(open_images->begin());
      image = open_images->emplace(crid.value, std::move(fd)).first;
    }
    std::string out(length, '\0');
    size_t done = 0;
    while (done < length) {
      ssize_t n = ::pread(image->second.get(), out.data() + done, length - done,
                          static_cast<off_t>(offset + done));
      if (n < 0) throw_errno("read", "image " + path);
      if (n == 0)
        throw Error("image " + path + ": ends before the referenced pages at offset " +
                    std::to_string(offset));
      done += static_cast<size_t>(n);
    }
    return out;
  };
}

namespace {

// Copies the pages of `from` (inline, in address order) within [start, end) into `to`;
// returns how many pages it copied.
uint64_t copy_range(const std::vector<PageExtent>& from, uint64_t start, uint64_t end,
                    std::vector<PageExtent>& to) {
  uint64_t copied = 0;
  auto it = std::upper_bound(from.begin(), from.end(), start,
                             [](uint64_t a, const PageExtent& e) { return a < e.addr; });
  if (it != from.begin()) --it;
  for (; it != from.end() && it->addr < end; ++it) {
    uint64_t lo = std::max(start, it->addr), hi = std::min(end, it->addr + it->count * kPageSize);
    if (lo >= hi) continue;
    to.push_back(PageExtent{lo, (hi - lo) / kPageSize,
                            it->data.substr(lo - it->addr, hi - lo), Crid{}, 0, 0});
    copied += (hi - lo) / kPageSize;
  }
  return copied;
}

}  // namespace

void inherit_pages(TreeState& tree, const std::function<std::string(Crid)>& path_of,
                   const PageFetcher& fetch) {
  bool any = false;
  for (const ProcessState& p : tree.processes) any = any || !p.inherited.empty();
  if (!any) return;
  std::string base_path = path_of(tree.table_base);
  TreeState base = read_tree_image_file(base_path);
  // A base lists all its references (the recorder makes it so): one level only.
  if (base.table_base.value)
    throw Error("image of CRID " + std::to_string(tree.crid.value) + ": its table base " +
                base_path + " inherits pages itself");
  // Only the base's extents that hold inherited pages are resolved: the catalog keeps the
  // images those live in for this checkpoint, not every image the base refers to.
  std::map<VPid, const ProcessState*> wanted;
  for (const ProcessState& p : tree.processes)
    if (!p.inherited.empty()) wanted[p.pid] = &p;
  for (ProcessState& b : base.processes) {
    auto w = wanted.find(b.pid);
    std::vector<PageExtent> keep;
    if (w != wanted.end() && !b.zombie) {
      // Both in address order: walk them together.
      const auto& ranges = w->second->inherited;
      size_t r = 0;
      for (PageExtent& e : b.pages) {
        while (r < ranges.size() && ranges[r].second <= e.addr) ++r;
        if (r < ranges.size() && ranges[r].first < e.addr + e.count * kPageSize)
          keep.push_back(std::move(e));
      }
    }
    b.pages = std::move(keep);
  }
  resolve_page_refs(base, fetch);
  for (ProcessState& p : tree.processes) {
    if (p.inherited.empty()) continue;
    const ProcessState* from = nullptr;
    for (const ProcessState& b : base.processes)
      if (b.pid == p.pid && !b.zombie) from = &b;
    for (const auto& [start, end] : p.inherited) {
      uint64_t want = (end - start) / kPageSize;
      if (!from || copy_range(from->pages, start, end, p.pages) != want)
        throw Error("image of CRID " + std::to_string(tree.crid.value) + ": process " +
                    std::to_string(p.pid.value) + " inherits pages its table base " +
                    base_path + " does not hold");
    }
    p.inherited.clear();
    std::sort(p.pages.begin(), p.pages.end(),
              [](const PageExtent& a, const PageExtent& b) { return a.addr < b.addr; });
  }
  tree.table_base = Crid{};
}

void resolve_page_refs(TreeState& tree, const PageFetcher& fetch) {
  for (ProcessState& p : tree.processes)
    for (PageExtent& e : p.pages) {
      if (e.data_crid.value == 0) continue;
      std::string data = fetch(e.data_crid, e.data_offset, e.count * kPageSize);
      if (data.size() != e.count * kPageSize || crc32c(0, data.data(), data.size()) != e.data_crc)
        throw Error("pages of process " + std::to_string(p.pid.value) + " referenced in image " +
                    std::to_string(e.data_crid.value) + " at offset " +
                    std::to_string(e.data_offset) + " are damaged (checksum mismatch)");
      e.data = std::move(data);
      e.data_crid = Crid{};
      e.data_offset = 0;
      e.data_crc = 0;
    }
  tree.parent = Crid{};
}

void map_page_refs(TreeState& tree, const std::function<std::string(Crid)>& path_of) {
  struct Mapped {
    std::string_view bytes;
    size_t checks;  // its index in tree.unverified
  };
  std::map<uint64_t, Mapped> images;  // by CRID
  for (ProcessState& p : tree.processes)
    for (PageExtent& e : p.pages) {
      if (e.data_crid.value == 0) continue;
      auto known = images.find(e.data_crid.value);
      if (known == images.end()) {
        auto mapped = image::MappedImage::open(path_of(e.data_crid));
        tree.mapped_images.push_back(mapped);
        tree.unverified.push_back({mapped->path(), {}});
        known = images.emplace(e.data_crid.value, Mapped{mapped->bytes(), tree.unverified.size() - 1})
                    .first;
      }
      const Mapped& image = known->second;
      TreeState::Unverified& checks = tree.unverified[image.checks];
      uint64_t length = e.count * kPageSize;
      if (e.data_offset > image.bytes.size() || image.bytes.size() - e.data_offset < length)
        throw Error("image " + checks.image + ": ends before the referenced pages at offset " +
                    std::to_string(e.data_offset));
      e.mapped = image.bytes.substr(e.data_offset, length);
      checks.checks.push_back({e.mapped, e.data_crc, e.data_offset});
      e.data_crid = Crid{};
      e.data_offset = 0;
      e.data_crc = 0;
    }
  tree.parent = Crid{};
}

void check_mapped_pages(TreeState& tree) {
  for (const TreeState::Unverified& u : tree.unverified)
    image::verify_deferred(u.checks, u.image, 2);
  tree.unverified.clear();
}

uint64_t refer_to_image(TreeState& tree, Crid base, const ImageLayout& layout) {
  std::map<std::tuple<pid_t, uint64_t, uint64_t>, const PageLocation*> by_key;
  for (const PageLocation& l : layout.pages) by_key[{l.pid.value, l.addr, l.count}] = &l;
  uint64_t referenced = 0;
  for (ProcessState& p : tree.processes) {
    std::vector<PageExtent> out;
    for (PageExtent& e : p.pages) {
      if (e.data_crid.value != 0) {
        out.push_back(std::move(e));
        continue;
      }
      // Cut as the writer cuts records, so each piece can match one page record of `base`.
      for (uint64_t done = 0; done < e.count; done += image::kMaxPagesPerRecord) {
        uint64_t n = std::min(image::kMaxPagesPerRecord, e.count - done);
        PageExtent piece{e.addr + done * kPageSize,
                         n,
                         e.data.substr(done * kPageSize, n * kPageSize),
                         Crid{},
                         0,
                         0};
        auto it = by_key.find({p.pid.value, piece.addr, n});
        uint32_t crc = crc32c(0, piece.data.data(), piece.data.size());
        if (it != by_key.end() && it->second->crc == crc) {
          piece.data.clear();
          piece.data_crid = base;
          piece.data_offset = it->second->offset;
          piece.data_crc = crc;
          referenced += n;
        }
        out.push_back(std::move(piece));
      }
    }
    p.pages = std::move(out);
  }
  return referenced;
}

}  // namespace deja::kmod
