// Incremental chains without a kernel: packed page tables round-trip (offsets going back and
// forth, many CRIDs), damage in one is refused by name, and the page-CRC combination that
// joins references into extents equals checksumming the bytes at once.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include <random>
#include <string>

#include "base/Error.h"
#include "kmod/Crc32c.h"
#include "kmod/ImageWriter.h"
#include "kmod/PageTracking.h"
#include "kmod/Record.h"
#include "kmod/TreeCodec.h"

namespace deja::kmod {
namespace {

TreeState tree_with_refs(size_t n) {
  TreeState t;
  t.crid = Crid{1000};
  t.parent = Crid{999};
  ProcessState p;
  p.pid = VPid{1};
  p.threads.emplace_back();
  std::mt19937_64 rng(7);
  uint64_t addr = 0x400000;
  for (size_t i = 0; i < n; ++i) {
    PageExtent e;
    addr += (1 + rng() % 5) * kPageSize;
    e.addr = addr;
    e.count = 1 + rng() % 300;
    addr += e.count * kPageSize;
    e.data_crid = Crid{1 + rng() % 999};
    e.data_offset = rng() % (1ull << 34);  // later extents may lie before earlier ones
    e.data_crc = static_cast<uint32_t>(rng());
    p.pages.push_back(e);
  }
  PageExtent inline_pages{0x1000, 1, std::string(kPageSize, 'x'), Crid{}, 0, 0};
  p.pages.insert(p.pages.begin(), inline_pages);
  t.processes.push_back(p);
  return t;
}

TreeState read_back(const std::string& bytes) {
  int fd = ::memfd_create("packed", MFD_CLOEXEC);
  EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::lseek(fd, 0, SEEK_SET);
  TreeState out = read_tree_image(fd, "packed");
  ::close(fd);
  return out;
}

TEST(PageTableTest, RoundTripsAndIsSmall) {
  TreeState in = tree_with_refs(200000);  // several pagetable records
  std::string bytes;
  encode_tree_image(in, bytes, "packed");
  // About a dozen bytes a reference, framing included.
  EXPECT_LT(bytes.size(), kPageSize + 200000 * 16);
  TreeState out = read_back(bytes);
  const auto& a = in.processes[0].pages;
  const auto& b = out.processes[0].pages;
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].addr, b[i].addr) << i;
    ASSERT_EQ(a[i].count, b[i].count) << i;
    ASSERT_EQ(a[i].data, b[i].data) << i;
    ASSERT_EQ(a[i].data_crid, b[i].data_crid) << i;
    ASSERT_EQ(a[i].data_offset, b[i].data_offset) << i;
    ASSERT_EQ(a[i].data_crc, b[i].data_crc) << i;
  }
}

TEST(PageTableTest, InheritedRangesRoundTrip) {
  TreeState in = tree_with_refs(10);
  in.table_base = Crid{990};
  auto& ranges = in.processes[0].inherited;
  uint64_t at = 0x7f0000000000;
  for (int i = 0; i < 100000; ++i) {  // several pageinherit records
    ranges.emplace_back(at, at + (1 + i % 7) * kPageSize);
    at = ranges.back().second + (1 + i % 3) * kPageSize;
  }
  std::string bytes;
  encode_tree_image(in, bytes, "packed");
  TreeState out = read_back(bytes);
  EXPECT_EQ(out.table_base, in.table_base);
  EXPECT_EQ(out.processes[0].inherited, ranges);
  EXPECT_EQ(out.processes[0].pages.size(), in.processes[0].pages.size());
}

// An image whose records are all well-formed (checksums fine) but whose last record, a page
// table or inherited ranges, says something impossible.
std::string forged(const image::RecordBuilder& last) {
  using namespace image;
  std::string bytes;
  ImageWriter w(&bytes, "forged", ImageHeader{kVersion, Crid{5}, Crid{4}, kFlagIncremental});
  RecordBuilder t(RecordType::kTask);
  t.i64(task::kPid, 1);
  w.write(t);
  RecordBuilder th(RecordType::kThread);
  th.i64(thread::kPid, 1).i64(thread::kTid, 1);
  w.write(th);
  w.write(last);
  w.finish();
  return bytes;
}

std::string forged(const std::string& packed) {
  image::RecordBuilder pt(image::RecordType::kPageTable);
  pt.i64(image::pagetable::kPid, 1).bytes(image::pagetable::kRefs, packed);
  return forged(pt);
}

std::string read_error(const std::string& bytes) {
  int fd = ::memfd_create("forged", MFD_CLOEXEC);
  EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::lseek(fd, 0, SEEK_SET);
  try {
    read_tree_image(fd, "forged");
  } catch (const Error& e) {
    ::close(fd);
    return e.what();
  }
  ::close(fd);
  return "";
}

TEST(PageTableTest, ImpossibleTablesAreRefusedByName) {
  // gap 16 pages, 1 page, back 0: a reference to the image itself.
  EXPECT_NE(read_error(forged(std::string("\x10\x01\x00\x00\x00\x00\x00\x00", 8)))
                .find("not older"),
            std::string::npos);
  // Cut off in the middle of an extent.
  EXPECT_NE(read_error(forged("\x10\x01")).find("truncated page table"), std::string::npos);
  // A count of zero pages.
  EXPECT_NE(read_error(forged(std::string("\x10\x00\x01\x00\x00\x00\x00\x00", 8)))
                .find("out of range"),
            std::string::npos);
}

TEST(PageTableTest, InheritingFromANewerImageIsRefused) {
  using namespace image;
  RecordBuilder in(RecordType::kPageInherit);
  in.i64(pageinherit::kPid, 1).u64(pageinherit::kBase, 5).bytes(pageinherit::kRanges, "\x10\x01");
  EXPECT_NE(read_error(forged(in)).find("bad base CRID 5"), std::string::npos);
}

TEST(PageTableTest, PageCrcsCombineIntoExtentCrcs) {
  std::mt19937 rng(3);
  std::string data(5 * kPageSize, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  uint32_t joined = crc32c(0, data.data(), kPageSize);
  for (size_t i = 1; i < 5; ++i)
    joined = crc32c_append_page(joined, crc32c(0, data.data() + i * kPageSize, kPageSize));
  EXPECT_EQ(joined, crc32c(0, data.data(), data.size()));
}

// The capture keeps a pre-copied page only where the scan under the freeze says it is still
// present and unwritten, and refers to older images for the rest of those pages.
TEST(PageRangesTest, IntersectAndSubtract) {
  auto P = [](uint64_t a, uint64_t b) { return PageRange{a * kPageSize, b * kPageSize}; };
  auto same = [](const std::vector<PageRange>& x, const std::vector<PageRange>& y) {
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (x[i].start != y[i].start || x[i].end != y[i].end) return false;
    return true;
  };
  std::vector<PageRange> copied{P(0, 2), P(5, 9), P(12, 13)};
  std::vector<PageRange> unchanged{P(1, 6), P(8, 20)};
  EXPECT_TRUE(same(intersect_ranges(copied, unchanged), {P(1, 2), P(5, 6), P(8, 9), P(12, 13)}));
  EXPECT_TRUE(same(subtract_ranges(unchanged, copied), {P(2, 5), P(9, 12), P(13, 20)}));
  EXPECT_TRUE(same(subtract_ranges(copied, {}), copied));
  EXPECT_TRUE(intersect_ranges(copied, {}).empty());
  EXPECT_TRUE(subtract_ranges(unchanged, {P(0, 30)}).empty());
}

TEST(PageRangesTest, KnownTrackedOnlyWithinARangeScannedAheadWhileMappingsStayTheSame) {
  auto P = [](uint64_t a, uint64_t b) { return PageRange{a * kPageSize, b * kPageSize}; };
  ProcessTracking t;
  t.tracked_ahead = {P(1, 5), P(8, 9)};
  EXPECT_FALSE(t.known_tracked(P(1, 5).start, P(1, 5).end)) << "mappings changed: ask";
  t.maps_unchanged = true;
  for (PageRange inside : {P(1, 5), P(2, 3), P(8, 9)})
    EXPECT_TRUE(t.known_tracked(inside.start, inside.end)) << inside.start << "-" << inside.end;
  for (PageRange outside : {P(0, 1), P(4, 6), P(5, 8), P(1, 9), P(9, 10)})
    EXPECT_FALSE(t.known_tracked(outside.start, outside.end)) << outside.start << "-" << outside.end;
}

TEST(TaskAnswersTest, KeptAnswersServeOnlyAQuietProcessWithNothingTheKernelChangesAlone) {
  std::vector<HostPid> threads{HostPid{10}, HostPid{11}};
  ProcessTracking t;
  EXPECT_EQ(t.reusable_answers(threads), nullptr) << "none kept yet";
  ProcessTracking::TaskAnswers a;
  a.threads = threads;
  a.sigactions = {{SIGUSR1, 0x1000, 0, 0x2000, 0}};
  a.itimers.assign(3 * sizeof(itimerval), '\0');
  a.per_thread = {{0, 0, 0, SS_DISABLE}, {0, 0, 0, SS_DISABLE}};
  t.answers = a;
  EXPECT_EQ(t.reusable_answers(threads), nullptr) << "it made such a call (or nobody looked)";
  t.answers_unchanged = true;
  EXPECT_EQ(t.reusable_answers(threads), &*t.answers);
  EXPECT_EQ(t.reusable_answers({HostPid{10}}), nullptr) << "a thread ended since";
  EXPECT_EQ(t.reusable_answers({HostPid{10}, HostPid{11}, HostPid{12}}), nullptr)
      << "a thread started since";
  // What signal delivery or time changes without a system call of the process.
  t.answers->sigactions[0].flags = SA_RESETHAND;
  EXPECT_EQ(t.reusable_answers(threads), nullptr) << "a handler reset on delivery";
  t.answers = a;
  t.answers->per_thread[1].altstack_flags = 0;
  EXPECT_EQ(t.reusable_answers(threads), nullptr) << "an alternate stack in use";
  t.answers = a;
  t.answers->itimers[sizeof(itimerval) - 1] = 1;
  EXPECT_EQ(t.reusable_answers(threads), nullptr) << "an armed interval timer";
}

}  // namespace
}  // namespace deja::kmod
