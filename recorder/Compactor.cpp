#include "recorder/Compactor.h"

#include "base/Error.h"
#include "kmod/PageRefs.h"
#include "kmod/TreeCodec.h"
#include "recorder/UringFileWriter.h"

namespace deja::recorder {

CompactReport compact_checkpoint(const snapshot::Store& store, db::Catalog& catalog,
                                 const db::CheckpointRow& row, const CompactProgress& progress) {
  std::string name = row.session + ":" + std::to_string(row.crid.value);
  if (!row.image) throw Error("checkpoint " + name + " has no image to compact");
  CompactReport report;
  report.bytes_before = static_cast<uint64_t>(row.image_bytes);
  std::string dir = store.images_dir() + "/" + row.session;
  kmod::TreeState tree = kmod::read_tree_image_file(store.images_dir() + "/" + *row.image);
  auto chain_image = [&](kmod::Crid c) { return dir + "/" + std::to_string(c.value) + ".img"; };
  auto files = kmod::image_file_fetcher(chain_image);
  bool inherits = tree.table_base.value != 0;
  // Pages inherited from the table base come first (reading that image in full), then the
  // references, with progress.
  kmod::inherit_pages(tree, chain_image, files);
  uint64_t total = 0;
  for (const auto& p : tree.processes)
    for (const auto& e : p.pages)
      if (e.data_crid.value) total += e.count * kmod::kPageSize;
  if (total == 0 && !inherits) {
    report.already_full = true;
    report.bytes_after = report.bytes_before;
    return report;
  }
  uint64_t done = 0;
  kmod::resolve_page_refs(tree, [&](kmod::Crid c, uint64_t offset, uint64_t length) {
    std::string data = files(c, offset, length);
    done += length;
    progress(done, total);
    return data;
  });
  report.pages_fetched = total / kmod::kPageSize;
  tree.parent = kmod::Crid{};
  std::string image;
  kmod::encode_tree_image(tree, image, name);
  std::string path = dir + "/" + std::to_string(row.crid.value) + ".full.img";
  std::string_view chunks[] = {image};
  UringFileWriter writer;
  report.bytes_after = writer.write(path, chunks);
  catalog.set_full_image(row.crid, path.substr(store.images_dir().size() + 1),
                         static_cast<int64_t>(report.bytes_after));
  return report;
}

}  // namespace deja::recorder
