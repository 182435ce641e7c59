// The write-back path: what goes in comes back byte for byte, and a full disk is an error
// that names the file and leaves no partial image behind.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include "base/Error.h"
#include "base/Files.h"
#include "tests/unit/TempDir.h"
#include "recorder/UringFileWriter.h"

namespace deja::recorder {
namespace {

using testing::TempDir;

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen());
  return s;
}

TEST(UringFileWriter, WritesChunksInOrderAcrossManyBatches) {
  TempDir dir;
  std::vector<std::string> data;
  for (unsigned i = 0; i < 100; ++i) data.push_back(random_bytes((i * 7919) % 70000, i));
  data.push_back(random_bytes(3 << 20, 999));  // larger than one write
  data.push_back("");
  std::vector<std::string_view> chunks(data.begin(), data.end());
  UringFileWriter writer(8);
  for (int round = 0; round < 2; ++round) {  // the ring is reused
    std::string path = dir.path() + "/image" + std::to_string(round);
    uint64_t size = writer.write(path, chunks);
    std::string expected;
    for (auto& d : data) expected += d;
    EXPECT_EQ(size, expected.size());
    EXPECT_EQ(read_file(path), expected);
    EXPECT_FALSE(path_exists(path + ".tmp"));
  }
}

TEST(UringFileWriter, FullDiskIsAnErrorAndLeavesNothing) {
  TempDir dir;
  ASSERT_EQ(::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=256k"), 0)
      << "this test needs root to mount a small tmpfs";
  std::string big = random_bytes(1 << 20, 1);
  std::string_view chunk = big;
  UringFileWriter writer;
  std::string path = dir.path() + "/image";
  try {
    writer.write(path, std::span(&chunk, 1));
    FAIL() << "a 1 MiB image fit in 256 KiB";
  } catch (const SysError& e) {
    EXPECT_EQ(e.err(), ENOSPC) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_FALSE(path_exists(path));
  EXPECT_FALSE(path_exists(path + ".tmp"));
}

// Issue 13: a write that fails while others are in flight must not leave their completions in
// the ring, where the next image would take them for its own (a stray error, a count that
// never reaches zero, or an fsync "done" that was a write's).
TEST(UringFileWriter, FailedWriteLeavesNothingForTheNextImage) {
  TempDir full, fine;
  ASSERT_EQ(::mount("tmpfs", full.path().c_str(), "tmpfs", 0, "size=256k"), 0)
      << "this test needs root to mount a small tmpfs";
  // Many pieces at once, so several writes are in flight when the disk fills.
  std::vector<std::string> data;
  for (unsigned i = 0; i < 64; ++i) data.push_back(random_bytes(64 << 10, i));
  std::vector<std::string_view> chunks(data.begin(), data.end());
  std::string expected;
  for (auto& d : data) expected += d;
  UringFileWriter writer(16);
  for (int round = 0; round < 3; ++round) {
    std::string bad = full.path() + "/image" + std::to_string(round);
    EXPECT_THROW(writer.write(bad, chunks), SysError);
    EXPECT_FALSE(path_exists(bad + ".tmp"));
    std::string good = fine.path() + "/image" + std::to_string(round);
    EXPECT_EQ(writer.write(good, chunks), expected.size());
    EXPECT_EQ(read_file(good), expected);
  }
}

}  // namespace
}  // namespace deja::recorder
