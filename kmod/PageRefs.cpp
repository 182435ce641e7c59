#include "kmod/PageRefs.h"

#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <tuple>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "kmod/Crc32c.h"
#include "kmod/ImageFormat.h"

namespace deja::kmod {

PageFetcher image_file_fetcher(std::function<std::string(Crid)> path_of) {
  return [path_of = std::move(path_of)](Crid crid, uint64_t offset, uint64_t length) {
    std::string path = path_of(crid);
    ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("open", "image " + path + " (CRID " + std::to_string(crid.value) + ")");
    std::string out(length, '\0');
    size_t done = 0;
    while (done < length) {
      ssize_t n =
          ::pread(fd.get(), out.data() + done, length - done, static_cast<off_t>(offset + done));
      if (n < 0) throw_errno("read", "image " + path);
      if (n == 0)
        throw Error("image " + path + ": ends before the referenced pages at offset " +
                    std::to_string(offset));
      done += static_cast<size_t>(n);
    }
    return out;
  };
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
