// The recorder's write-back thread: rows are committed in CRID order once their images are on
// disk; a failed write removes its checkpoint and every incremental one queued behind it (they
// may refer to it) until a full image starts a new chain. The failure is real: a full tmpfs.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <string>

#include "base/Error.h"
#include "base/Files.h"
#include "db/Catalog.h"
#include "tests/unit/TempDir.h"
#include "recorder/WriteBack.h"

namespace deja::recorder {
namespace {

using testing::TempDir;

WriteBack::Job job(uint64_t crid, std::optional<uint64_t> parent, const std::string& dir,
                   size_t bytes) {
  WriteBack::Job j;
  j.row.crid = db::Crid{crid};
  j.row.session = "s";
  j.row.time = 100 + static_cast<double>(crid);
  j.row.snapshot = "snapshots/s/" + std::to_string(crid);
  j.row.parent_crid = parent;
  if (parent) j.row.references.push_back(db::Crid{*parent});
  j.image = dir + "/" + std::to_string(crid) + ".img";
  j.row.image = std::to_string(crid) + ".img";
  j.image_chunks.owned.push_back(std::string(bytes, static_cast<char>('a' + crid)));
  j.image_chunks.chunks.emplace_back(j.image_chunks.owned.back());
  return j;
}

TEST(WriteBack, CommitsInOrderAndDropsWhatFollowsAFailure) {
  TempDir dir, full;
  ASSERT_EQ(::mount("tmpfs", full.path().c_str(), "tmpfs", 0, "size=64k"), 0)
      << "this test needs root to mount a small tmpfs";
  std::string catalog_path = dir.path() + "/catalog.db";
  db::Catalog catalog(catalog_path);
  db::SessionRow s;
  s.id = "s";
  s.name = "test";
  s.state = "recording";
  s.started = 100;
  s.command = "[\"sleep\"]";
  s.home = "/home/root";
  catalog.add_session(s);
  {
    WriteBack wb(catalog_path, "s");
    wb.submit(job(1, std::nullopt, dir.path(), 100000));
    wb.submit(job(2, 1, full.path(), 100000));  // does not fit: fails
    auto dropped = job(3, 2, dir.path(), 1000);  // refers to 2: dropped unwritten
    dropped.waited = true;
    wb.submit(std::move(dropped));
    wb.submit(job(4, std::nullopt, dir.path(), 5000));  // a full image: a new chain
    auto last = job(5, 4, dir.path(), 3000);
    last.waited = true;
    wb.submit(std::move(last));
    EXPECT_THROW(wb.wait(db::Crid{3}), Error);
    wb.wait(db::Crid{5});
    EXPECT_EQ(wb.failures(), 2u);
  }
  std::vector<uint64_t> committed;
  for (const auto& r : catalog.checkpoints("s")) committed.push_back(r.crid.value);
  EXPECT_EQ(committed, (std::vector<uint64_t>{1, 4, 5}));
  EXPECT_EQ(read_file(dir.path() + "/5.img"), std::string(3000, 'a' + 5));
  EXPECT_EQ(catalog.checkpoints("s").back().image_bytes, 3000);
  EXPECT_FALSE(path_exists(full.path() + "/2.img"));
  EXPECT_FALSE(path_exists(dir.path() + "/3.img"));
}

}  // namespace
}  // namespace deja::recorder
