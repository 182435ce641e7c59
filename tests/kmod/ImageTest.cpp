// Unit tests of the image format: round trips, and refusal of every kind of damage.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "base/Error.h"
#include "base/Files.h"
#include "base/ScopedFd.h"
#include "kmod/Crc32c.h"
#include "kmod/ImageJson.h"
#include "kmod/ImageReader.h"
#include "kmod/ImageWriter.h"
#include "kmod/PageRefs.h"
#include "kmod/TreeCodec.h"

namespace deja::kmod {
namespace {

// An anonymous in-memory file: images are written and read through real fds.
class MemFile {
 public:
  MemFile() : fd_(::memfd_create("image", MFD_CLOEXEC)) { EXPECT_TRUE(fd_.valid()); }
  int fd() const { return fd_.get(); }
  std::string contents() const {
    std::string s;
    char buf[65536];
    ssize_t n;
    off_t off = 0;
    while ((n = ::pread(fd_.get(), buf, sizeof buf, off)) > 0) {
      s.append(buf, static_cast<size_t>(n));
      off += n;
    }
    return s;
  }
  void set(const std::string& s) {
    EXPECT_EQ(::ftruncate(fd_.get(), 0), 0);
    EXPECT_EQ(::pwrite(fd_.get(), s.data(), s.size(), 0), static_cast<ssize_t>(s.size()));
    rewind();
  }
  void rewind() { ::lseek(fd_.get(), 0, SEEK_SET); }

 private:
  ScopedFd fd_;
};

TreeState sample_tree() {
  TreeState t;
  t.crid.value = 42;
  t.parent.value = 41;
  ProcessState p;
  p.pid.value = 1;
  p.ppid.value = 0;
  p.pgid.value = 1;
  p.sid.value = 1;
  p.comm = "init";
  p.cwd = "/home";
  p.exe = "/usr/bin/sleep";
  p.mm.brk = 0x5555'0000'0000;
  p.mm.auxv = std::string("\x01\x02\x03", 3);
  p.rlimits.push_back({1024, 4096});
  ThreadState th;
  th.tid.value = 1;
  th.regs.rip = 0x7fff'1234'5678;
  th.regs.rax = static_cast<unsigned long long>(-4);
  th.sigmask = 1ull << 9;
  th.xsave = std::string(832, '\x5a');
  p.threads.push_back(th);
  Vma v;
  v.start = 0x10000;
  v.end = 0x10000 + 300 * kPageSize;
  v.prot = 3;
  v.flags = 0x22;
  p.vmas.push_back(v);
  PageExtent e;
  e.addr = 0x10000;
  e.count = 300;  // more than one record's worth: exercises splitting and joining
  for (uint64_t i = 0; i < e.count * kPageSize; ++i) e.data += static_cast<char>(i * 7);
  p.pages.push_back(e);
  PageExtent ref;
  ref.addr = 0x200000;
  ref.count = 4;
  ref.data_crid.value = 40;
  ref.data_offset = 12345;
  p.pages.push_back(ref);
  FdState f;
  f.fd = 3;
  f.kind = FdKind::kPipe;
  f.pipe_id = 77;
  f.flags = 1;
  p.fds.push_back(f);
  p.sigactions.push_back({10, 0x401000, 0x04000000, 0x402000, 1});
  t.processes.push_back(p);
  t.pipes.push_back({77, 65536, "in flight"});
  return t;
}

TEST(ImageTest, RoundTrip) {
  MemFile f;
  TreeState in = sample_tree();
  write_tree_image(in, f.fd(), "mem");
  f.rewind();
  TreeState out = read_tree_image(f.fd(), "mem");
  EXPECT_EQ(out.crid.value, 42u);
  EXPECT_EQ(out.parent.value, 41u);
  ASSERT_EQ(out.processes.size(), 1u);
  const ProcessState& p = out.processes[0];
  EXPECT_EQ(p.comm, "init");
  EXPECT_EQ(p.cwd, "/home");
  EXPECT_EQ(p.mm.brk, in.processes[0].mm.brk);
  EXPECT_EQ(p.mm.auxv, in.processes[0].mm.auxv);
  ASSERT_EQ(p.rlimits.size(), 1u);
  EXPECT_EQ(p.rlimits[0][1], 4096u);
  ASSERT_EQ(p.threads.size(), 1u);
  EXPECT_EQ(
      std::memcmp(&p.threads[0].regs, &in.processes[0].threads[0].regs, sizeof(user_regs_struct)),
      0);
  EXPECT_EQ(p.threads[0].xsave, in.processes[0].threads[0].xsave);
  EXPECT_EQ(p.threads[0].sigmask, 1ull << 9);
  // The 300-page extent comes back cut at the record limit.
  ASSERT_EQ(p.pages.size(), 3u);
  EXPECT_EQ(p.pages[0].count, image::kMaxPagesPerRecord);
  EXPECT_EQ(p.pages[1].addr, 0x10000 + image::kMaxPagesPerRecord * kPageSize);
  EXPECT_EQ(p.pages[0].count + p.pages[1].count, 300u);
  EXPECT_EQ(p.pages[0].data + p.pages[1].data, in.processes[0].pages[0].data);
  EXPECT_EQ(p.pages[2].data_crid.value, 40u);
  EXPECT_EQ(p.pages[2].data_offset, 12345u);
  ASSERT_EQ(p.fds.size(), 1u);
  EXPECT_EQ(p.fds[0].pipe_id, 77u);
  ASSERT_EQ(p.sigactions.size(), 1u);
  EXPECT_EQ(p.sigactions[0].restorer, 0x402000u);
  ASSERT_EQ(out.pipes.size(), 1u);
  EXPECT_EQ(out.pipes[0].data, "in flight");
}

TEST(ImageTest, TimersInotifyAndPidfdsRoundTrip) {
  TreeState in = sample_tree();
  PosixTimerState timer;
  timer.id = 7;
  timer.clock = 1;
  timer.notify = 4;  // SIGEV_THREAD_ID
  timer.signo = 37;
  timer.sigval = 0x2a;
  timer.thread.value = 2;
  timer.value_ns = 123456789;
  timer.interval_ns = 1000000;
  timer.overrun = 19;
  in.processes[0].posix_timers.push_back(timer);
  in.inotifies.push_back({5, {{1, 0x100, "/home/dir"}, {3, 0x4000002, "/home/file"}}});
  in.inotifies.push_back({6, {}});
  in.pidfds.push_back({8, VPid{2}});
  MemFile f;
  write_tree_image(in, f.fd(), "mem");
  f.rewind();
  TreeState out = read_tree_image(f.fd(), "mem");
  ASSERT_EQ(out.processes[0].posix_timers.size(), 1u);
  const PosixTimerState& t = out.processes[0].posix_timers[0];
  EXPECT_EQ(t.id, 7);
  EXPECT_EQ(t.notify, 4u);
  EXPECT_EQ(t.sigval, 0x2au);
  EXPECT_EQ(t.thread.value, 2);
  EXPECT_EQ(t.value_ns, 123456789u);
  EXPECT_EQ(t.interval_ns, 1000000u);
  EXPECT_EQ(t.overrun, 19);
  ASSERT_EQ(out.inotifies.size(), 2u);
  ASSERT_EQ(out.inotifies[0].watches.size(), 2u);
  EXPECT_EQ(out.inotifies[0].watches[1].wd, 3);
  EXPECT_EQ(out.inotifies[0].watches[1].mask, 0x4000002u);
  EXPECT_EQ(out.inotifies[0].watches[1].path, "/home/file");
  EXPECT_TRUE(out.inotifies[1].watches.empty());
  ASSERT_EQ(out.pidfds.size(), 1u);
  EXPECT_EQ(out.pidfds[0].pid.value, 2);
  f.rewind();
  std::string json = image_to_json(f.fd(), "mem");
  for (const char* s : {"\"type\":\"posix_timer\"", "\"type\":\"inotify_watch\"",
                        "\"path\":\"/home/file\"", "\"type\":\"pidfd\""})
    EXPECT_NE(json.find(s), std::string::npos) << s;
}

TEST(ImageTest, StreamsThroughAPipe) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  ScopedFd r(p[0]), w(p[1]);
  TreeState in = sample_tree();
  in.processes[0].pages.resize(1);
  in.processes[0].pages[0].count = 1;
  in.processes[0].pages[0].data.resize(kPageSize);
  // Small enough to fit in the pipe buffer, so one thread can write then read.
  ASSERT_EQ(::fcntl(w.get(), F_SETPIPE_SZ, 1 << 20), 1 << 20);
  write_tree_image(in, w.get(), "pipe");
  w.reset();
  TreeState out = read_tree_image(r.get(), "pipe");
  EXPECT_EQ(out.processes[0].pages[0].data, in.processes[0].pages[0].data);
}

std::string error_of(MemFile& f) {
  f.rewind();
  try {
    read_tree_image(f.fd(), "mem");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ImageTest, EveryCorruptByteIsRefused) {
  MemFile f;
  TreeState in = sample_tree();
  in.processes[0].pages.resize(1);
  in.processes[0].pages[0].count = 1;
  in.processes[0].pages[0].data.resize(kPageSize, 'x');
  write_tree_image(in, f.fd(), "mem");
  const std::string good = f.contents();
  // Flip each byte in turn (page data sampled): every flip must be caught.
  for (size_t i = 0; i < good.size(); i += (i > 200 && i < good.size() - 2000) ? 97 : 1) {
    std::string bad = good;
    bad[i] ^= 0x20;
    f.set(bad);
    EXPECT_NE(error_of(f), "") << "flip at byte " << i << " was not detected";
  }
}

TEST(ImageTest, CorruptPayloadNamesChecksum) {
  MemFile f;
  write_tree_image(sample_tree(), f.fd(), "mem");
  std::string bad = f.contents();
  bad[image::kFileHeaderSize + image::kRecordHeaderSize + 3] ^= 1;
  f.set(bad);
  EXPECT_NE(error_of(f).find("checksum mismatch"), std::string::npos) << error_of(f);
}

TEST(ImageTest, TruncationIsRefusedAtEveryLength) {
  MemFile f;
  TreeState in = sample_tree();
  in.processes[0].pages.resize(1);
  in.processes[0].pages[0].count = 1;
  in.processes[0].pages[0].data.resize(kPageSize);
  write_tree_image(in, f.fd(), "mem");
  const std::string good = f.contents();
  for (size_t len = 0; len < good.size(); len += (len % 13) + 1) {
    f.set(good.substr(0, len));
    std::string err = error_of(f);
    EXPECT_NE(err.find("truncated"), std::string::npos) << "length " << len << ": " << err;
  }
}

TEST(ImageTest, MappedImageCutShortAfterMappingIsAnErrorAtEveryPage) {
  // A read error in a mapped image is a SIGBUS at the read; a file cut short after it was
  // mapped gives the same. Wherever it falls (header, small records, the fields of a pages
  // record, its data), the mapped read and its deferred check end in an error naming the
  // image, never in the signal.
  MemFile f;
  TreeState in = sample_tree();
  in.processes[0].pages.resize(1);
  in.processes[0].pages[0].count = 40;
  in.processes[0].pages[0].data.resize(40 * kPageSize, 'x');
  in.pipes[0].data = std::string(10000, 'p');  // small records over several pages
  in.processes.push_back(in.processes[0]);
  in.processes[1].pid.value = 2;
  write_tree_image(in, f.fd(), "mem");
  const std::string good = f.contents();
  const std::string path = "/proc/self/fd/" + std::to_string(f.fd());
  for (size_t cut = 0; cut < good.size(); cut += kPageSize) {
    f.set(good);
    auto mapped = image::MappedImage::open(path);
    ASSERT_EQ(::ftruncate(f.fd(), static_cast<off_t>(cut)), 0);
    try {
      image::ImageReader reader(mapped, image::RecordType::kPages);
      while (reader.next()) {
      }
      image::verify_deferred(reader.deferred(), path, 2);
      ADD_FAILURE() << "cut at " << cut << " not detected";
    } catch (const Error& e) {
      std::string what = e.what();
      EXPECT_NE(what.find("cannot be read"), std::string::npos) << "cut at " << cut << ": " << what;
      EXPECT_NE(what.find(path), std::string::npos) << what;
    }
  }
}

TEST(ImageTest, WrongVersionAndMagic) {
  MemFile f;
  write_tree_image(sample_tree(), f.fd(), "mem");
  std::string img = f.contents();
  image::ImageHeader h{7, Crid{1}, Crid{0}, 0};
  f.set(image::encode_header(h) + img.substr(image::kFileHeaderSize));
  EXPECT_NE(error_of(f).find("unsupported image version 7"), std::string::npos);
  std::string bad = img;
  bad[0] = 'X';
  f.set(bad);
  EXPECT_NE(error_of(f).find("bad magic"), std::string::npos);
}

TEST(ImageTest, UnknownRecordsAndFieldsAreSkipped) {
  MemFile f;
  {
    image::ImageWriter w(f.fd(), "mem", image::ImageHeader{image::kVersion, Crid{5}, Crid{}, 0});
    image::RecordBuilder future(static_cast<image::RecordType>(999));
    future.u64(1, 7);
    w.write(future);
    image::RecordBuilder t(image::RecordType::kTask);
    t.i64(image::task::kPid, 1).i64(image::task::kSid, 1).u64(image::task::kZombie, 1);
    t.bytes(5000, "a field from the future");
    w.write(t);
    w.finish();
  }
  f.rewind();
  TreeState out = read_tree_image(f.fd(), "mem");
  ASSERT_EQ(out.processes.size(), 1u);
  EXPECT_TRUE(out.processes[0].zombie);
  f.rewind();
  std::string json = image_to_json(f.fd(), "mem");
  EXPECT_NE(json.find("\"unknown_type\":true"), std::string::npos) << json;
  EXPECT_NE(json.find("\"field_5000\""), std::string::npos) << json;
}

TEST(ImageTest, JsonNamesFields) {
  MemFile f;
  write_tree_image(sample_tree(), f.fd(), "mem");
  f.rewind();
  std::string json = image_to_json(f.fd(), "mem");
  for (const char* s : {"\"crid\":42", "\"parent_crid\":41", "\"type\":\"task\"",
                        "\"comm\":\"init\"", "\"rip\":\"0x7fff12345678\"", "\"type\":\"pagetable\"",
                        "\"type\":\"pipe\"", "\"handler\":\"0x401000\""})
    EXPECT_NE(json.find(s), std::string::npos) << s;
}

TEST(ImageTest, Crc32cKnownAnswer) {
  // The standard check value of CRC-32C, from both implementations, and agreement between
  // them on every length and alignment.
  EXPECT_EQ(crc32c(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c_sw(0, "123456789", 9), 0xE3069283u);
  std::string buf;
  for (int i = 0; i < 300; ++i) buf += static_cast<char>(i * 11);
  for (size_t off = 0; off < 9; ++off)
    for (size_t len = 0; off + len <= buf.size(); len += 7)
      ASSERT_EQ(crc32c(0, buf.data() + off, len), crc32c_sw(0, buf.data() + off, len));
  // Continuation: checksumming in two parts equals checksumming at once.
  EXPECT_EQ(crc32c(crc32c(0, buf.data(), 100), buf.data() + 100, 200), crc32c(0, buf.data(), 300));
  // Long inputs go three streams at a time (joined every 3 KiB): around those sizes too.
  std::string big;
  for (uint32_t i = 0, x = 1; i < 40000; ++i) big += static_cast<char>((x = x * 1103515245u + 12345u) >> 24);
  for (size_t len : {3071ul, 3072ul, 3073ul, 6144ul, 9215ul, 12289ul, 39999ul})
    for (size_t off : {0ul, 1ul})
      ASSERT_EQ(crc32c(7, big.data() + off, len), crc32c_sw(7, big.data() + off, len))
          << "length " << len << " at " << off;
}

}  // namespace
}  // namespace deja::kmod

namespace deja::kmod {
namespace {

TEST(PageRefsTest, IncrementalChainResolvesAndChecksData) {
  MemFile base_file, inc_file;
  TreeState tree = sample_tree();
  tree.processes[0].pages.resize(1);  // the 300-page extent only
  ImageLayout layout = write_tree_image(tree, base_file.fd(), "base");
  ASSERT_EQ(layout.pages.size(), 2u);  // cut at 256 pages

  TreeState inc = tree;
  inc.crid = Crid{43};
  inc.parent = Crid{42};
  // One page differs now: that piece stays inline, the other is referenced.
  inc.processes[0].pages[0].data[kPageSize * 260] ^= 1;
  const std::string expected = inc.processes[0].pages[0].data;
  EXPECT_EQ(refer_to_image(inc, Crid{42}, layout), 256u);
  ImageLayout inc_layout = write_tree_image(inc, inc_file.fd(), "inc");
  EXPECT_LT(inc_layout.bytes, layout.bytes / 4);
  inc_file.rewind();
  TreeState back = read_tree_image(inc_file.fd(), "inc");
  ASSERT_EQ(back.processes[0].pages.size(), 2u);
  EXPECT_EQ(back.processes[0].pages[0].data_crid.value, 42u);

  std::string base_bytes = base_file.contents();
  auto fetch = [&](Crid c, uint64_t off, uint64_t len) {
    EXPECT_EQ(c.value, 42u);
    return base_bytes.substr(off, len);
  };
  TreeState resolved = back;
  resolve_page_refs(resolved, fetch);
  std::string all = resolved.processes[0].pages[0].data + resolved.processes[0].pages[1].data;
  EXPECT_TRUE(all == expected) << "resolved pages differ";  // no megabytes of diff output

  // A damaged byte in the older image is caught by the reference's checksum.
  base_bytes[layout.pages[0].offset + 100] ^= 1;
  TreeState damaged = back;
  try {
    resolve_page_refs(damaged, fetch);
    FAIL() << "damage not detected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace deja::kmod

namespace deja::kmod {
namespace {

// The bytes of `e`, wherever the reader left them.
std::string_view extent_bytes(const PageExtent& e) {
  return e.mapped.empty() ? std::string_view(e.data) : e.mapped;
}

TEST(PageRefsTest, ReviveMapsPagesAndChecksThemBeforeUse) {
  // A base image and an incremental one referring to it, as files (a revive maps them).
  char dir_template[] = "/tmp/deja-image-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  std::string dir = dir_template;
  struct Cleanup {
    std::string dir;
    ~Cleanup() { run_command({"rm", "-rf", dir}); }
  } cleanup{dir};
  auto path_of = [&](Crid c) { return dir + "/" + std::to_string(c.value) + ".img"; };
  TreeState tree = sample_tree();
  tree.processes[0].pages.resize(1);  // the 300-page extent only
  ImageLayout layout = write_tree_image_file(tree, path_of(Crid{42}));
  TreeState inc = tree;
  inc.crid = Crid{43};
  inc.parent = Crid{42};
  inc.processes[0].pages[0].data[kPageSize * 260] ^= 1;  // that piece stays inline
  const std::string expected = inc.processes[0].pages[0].data;
  ASSERT_EQ(refer_to_image(inc, Crid{42}, layout), 256u);
  ImageLayout inc_layout = write_tree_image_file(inc, path_of(Crid{43}));
  ASSERT_EQ(inc_layout.pages.size(), 1u);  // the inline piece

  auto revive_read = [&] {
    TreeState t = read_tree_image_mapped(path_of(Crid{43}));
    map_page_refs(t, path_of);
    return t;
  };
  TreeState back = revive_read();
  ASSERT_EQ(back.processes[0].pages.size(), 2u);
  EXPECT_FALSE(back.unverified.empty());
  check_mapped_pages(back);
  EXPECT_TRUE(back.unverified.empty());
  std::string all;
  for (const PageExtent& e : back.processes[0].pages) {
    EXPECT_TRUE(e.data.empty()) << "page data was copied";
    EXPECT_EQ(e.data_crid.value, 0u);
    all += extent_bytes(e);
  }
  EXPECT_TRUE(all == expected) << "mapped pages differ";

  // One byte changed in either image's page data: read and mapped without complaint (the
  // data is not looked at yet), then refused by the check, naming the image.
  auto damage = [&](Crid c, uint64_t at) {
    ScopedFd fd(::open(path_of(c).c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    char b;
    ASSERT_EQ(::pread(fd.get(), &b, 1, static_cast<off_t>(at)), 1);
    b ^= 0x40;
    ASSERT_EQ(::pwrite(fd.get(), &b, 1, static_cast<off_t>(at)), 1);
  };
  auto expect_refused = [&](Crid c) {
    TreeState t = revive_read();
    try {
      check_mapped_pages(t);
      FAIL() << "damage in image " << c.value << " not detected";
    } catch (const Error& e) {
      std::string what = e.what();
      EXPECT_NE(what.find("checksum mismatch"), std::string::npos) << what;
      EXPECT_NE(what.find(path_of(c)), std::string::npos) << what;
    }
  };
  damage(Crid{42}, layout.pages[0].offset + 100);  // referenced by the incremental image
  expect_refused(Crid{42});
  damage(Crid{42}, layout.pages[0].offset + 100);  // mended
  TreeState mended = revive_read();
  EXPECT_NO_THROW(check_mapped_pages(mended));
  damage(Crid{43}, inc_layout.pages[0].offset + 100);  // its inline page
  expect_refused(Crid{43});

  // An image that cannot be read where its pages are (here cut short after it was mapped, as
  // a read error would) is an error naming it, not a SIGBUS.
  TreeState cut = revive_read();
  ASSERT_EQ(::truncate(path_of(Crid{43}).c_str(),
                       static_cast<off_t>(inc_layout.pages[0].offset + 2 * kPageSize)),
            0);
  try {
    check_mapped_pages(cut);
    FAIL() << "unreadable pages not detected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path_of(Crid{43})), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace deja::kmod
