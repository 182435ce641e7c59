#include "kmod/TreeCodec.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "kmod/Crc32c.h"
#include "kmod/ImageReader.h"
#include "kmod/ImageTables.h"
#include "kmod/KernelCompat.h"

namespace deja::kmod {

using namespace image;

namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

// The references of one process as pagetable records: per extent, in address order, varints
// of (pages since the previous extent's end, count, this CRID minus the referenced one, the
// zigzag difference between its offset and where the previous extent's bytes ended), then
// the CRC32C in 4 bytes. About 12 bytes an extent instead of a pageref record's ~50: an
// image of a big process carries tens of thousands of them.
void write_page_table(ImageWriter& w, const ProcessState& p, Crid crid) {
  std::vector<const PageExtent*> refs;
  for (const PageExtent& e : p.pages)
    if (e.data_crid.value != 0) refs.push_back(&e);
  std::sort(refs.begin(), refs.end(),
            [](const PageExtent* a, const PageExtent* b) { return a->addr < b->addr; });
  std::string packed;
  uint64_t addr_end = 0, offset_end = 0;
  auto flush = [&] {
    if (packed.empty()) return;
    RecordBuilder r(RecordType::kPageTable);
    r.i64(pagetable::kPid, p.pid.value).bytes(pagetable::kRefs, packed);
    w.write(r);
    packed.clear();
    addr_end = offset_end = 0;
  };
  for (const PageExtent* e : refs) {
    DEJA_CHECK(e->addr % kPageSize == 0 && e->addr >= addr_end && e->data_crid < crid);
    put_varint(packed, (e->addr - addr_end) / kPageSize);
    put_varint(packed, e->count);
    put_varint(packed, crid.value - e->data_crid.value);
    int64_t d = static_cast<int64_t>(e->data_offset - offset_end);
    put_varint(packed, (static_cast<uint64_t>(d) << 1) ^ static_cast<uint64_t>(d >> 63));
    for (int i = 0; i < 4; ++i) packed += static_cast<char>((e->data_crc >> (8 * i)) & 0xff);
    addr_end = e->addr + e->count * kPageSize;
    offset_end = e->data_offset + e->count * kPageSize;
    if (packed.size() >= pagetable::kMaxPacked) flush();
  }
  flush();
}

// The varints (and 4-byte CRCs) of a packed field, each read checked against its end.
class PackedReader {
 public:
  PackedReader(std::string_view packed, const std::string& name, const char* what)
      : packed_(packed), name_(name), what_(what) {}
  bool done() const { return at_ == packed_.size(); }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (done()) fail("truncated");
      auto b = static_cast<uint8_t>(packed_[at_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("bad varint in");
  }
  uint32_t u32() {
    if (packed_.size() - at_ < 4) fail("truncated");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(packed_[at_++])) << (8 * i);
    return v;
  }
  [[noreturn]] void fail(const std::string& how) const {
    throw Error("image " + name_ + ": " + how + " " + what_);
  }

 private:
  std::string_view packed_;
  const std::string& name_;
  const char* what_;
  size_t at_ = 0;
};

// Reads back what write_page_table wrote.
void read_page_table(std::string_view packed, Crid crid, const std::string& name,
                     std::vector<PageExtent>& out) {
  PackedReader in(packed, name, "page table");
  uint64_t addr_end = 0, offset_end = 0;
  while (!in.done()) {
    PageExtent e;
    uint64_t gap = in.varint(), count = in.varint(), back = in.varint(), zz = in.varint();
    if (count == 0 || count > compat::kTaskSize / kPageSize || gap > compat::kTaskSize / kPageSize)
      in.fail("extent out of range in");
    e.addr = addr_end + gap * kPageSize;
    e.count = count;
    if (back == 0 || back >= crid.value) in.fail("a CRID not older than the image in");
    e.data_crid.value = crid.value - back;
    e.data_offset = offset_end + static_cast<uint64_t>(static_cast<int64_t>(zz >> 1) ^ -static_cast<int64_t>(zz & 1));
    e.data_crc = in.u32();
    if (e.addr + e.count * kPageSize > compat::kTaskSize) in.fail("extent beyond the address space in");
    addr_end = e.addr + e.count * kPageSize;
    offset_end = e.data_offset + e.count * kPageSize;
    out.push_back(std::move(e));
  }
}

// A process's inherited ranges as pageinherit records: per range, in address order, varints
// of (pages since the previous range's end, pages in the range).
void write_inherited(ImageWriter& w, const ProcessState& p, Crid base) {
  DEJA_CHECK(base.value != 0);
  std::string packed;
  uint64_t end = 0;
  auto flush = [&] {
    if (packed.empty()) return;
    RecordBuilder r(RecordType::kPageInherit);
    r.i64(pageinherit::kPid, p.pid.value).u64(pageinherit::kBase, base.value);
    r.bytes(pageinherit::kRanges, packed);
    w.write(r);
    packed.clear();
    end = 0;
  };
  for (const auto& [start, stop] : p.inherited) {
    DEJA_CHECK(start % kPageSize == 0 && stop % kPageSize == 0 && start >= end && stop > start);
    put_varint(packed, (start - end) / kPageSize);
    put_varint(packed, (stop - start) / kPageSize);
    end = stop;
    if (packed.size() >= pagetable::kMaxPacked) flush();
  }
  flush();
}

void read_inherited(std::string_view packed, const std::string& name,
                    std::vector<std::pair<uint64_t, uint64_t>>& out) {
  PackedReader in(packed, name, "inherited ranges");
  uint64_t end = 0;
  while (!in.done()) {
    uint64_t gap = in.varint(), count = in.varint();
    constexpr uint64_t kMax = compat::kTaskSize / kPageSize;
    if (count == 0 || gap > kMax || count > kMax || end / kPageSize + gap + count > kMax)
      in.fail("range out of range in");
    uint64_t start = end + gap * kPageSize;
    end = start + count * kPageSize;
    out.emplace_back(start, end);
  }
}

void write_process(ImageWriter& w, const ProcessState& p, Crid crid, Crid base,
                   ImageLayout& layout) {
  RecordBuilder t(RecordType::kTask);
  write_fields<ProcessState>(t, kTaskFields, p);
  w.write(t);
  for (const ThreadState& th : p.threads) {
    RecordBuilder r(RecordType::kThread);
    r.i64(thread::kPid, p.pid.value);
    write_fields<ThreadState>(r, kThreadFields, th);
    w.write(r);
  }
  for (const Vma& v : p.vmas) {
    RecordBuilder r(RecordType::kVma);
    r.i64(vma::kPid, p.pid.value);
    write_fields<Vma>(r, kVmaFields, v);
    w.write(r);
  }
  for (const PageExtent& e : p.pages) {
    if (e.data_crid.value != 0) continue;
    DEJA_CHECK(e.data.size() == e.count * kPageSize);
    // Cut large extents so no record exceeds the reader's limit.
    for (uint64_t done = 0; done < e.count; done += kMaxPagesPerRecord) {
      uint64_t n = std::min(kMaxPagesPerRecord, e.count - done);
      RecordBuilder r(RecordType::kPages);
      r.i64(pages::kPid, p.pid.value)
          .u64(pages::kAddr, e.addr + done * kPageSize)
          .u64(pages::kCount, n)
          .tail_bytes(pages::kData,
                      std::string_view(e.data).substr(done * kPageSize, n * kPageSize));
      uint64_t at = w.write(r) + r.last_bytes_offset();
      std::string_view d = r.tail();
      layout.pages.push_back(
          {p.pid, e.addr + done * kPageSize, n, at, crc32c(0, d.data(), d.size())});
    }
  }
  write_page_table(w, p, crid);
  if (!p.inherited.empty()) write_inherited(w, p, base);
  for (const FdState& f : p.fds) {
    RecordBuilder r(RecordType::kFd);
    r.i64(fd::kPid, p.pid.value);
    write_fields<FdState>(r, kFdFields, f);
    w.write(r);
  }
  for (const SigactionState& sa : p.sigactions) {
    RecordBuilder r(RecordType::kSigaction);
    r.i64(sigaction::kPid, p.pid.value);
    write_fields<SigactionState>(r, kSigactionFields, sa);
    w.write(r);
  }
  for (const PosixTimerState& t : p.posix_timers) {
    RecordBuilder r(RecordType::kPosixTimer);
    r.i64(posixtimer::kPid, p.pid.value);
    write_fields<PosixTimerState>(r, kPosixTimerFields, t);
    w.write(r);
  }
}

}  // namespace

namespace {

ImageHeader header_of(const TreeState& tree) {
  bool incremental = false;
  for (const ProcessState& p : tree.processes) {
    for (const PageExtent& e : p.pages) incremental = incremental || e.data_crid.value != 0;
    incremental = incremental || !p.inherited.empty();
  }
  return ImageHeader{kVersion, tree.crid, tree.parent, incremental ? kFlagIncremental : 0};
}

ImageLayout write_records(const TreeState& tree, ImageWriter& w);

}  // namespace

ImageLayout write_tree_image(const TreeState& tree, int fd, const std::string& name) {
  ImageWriter w(fd, name, header_of(tree));
  return write_records(tree, w);
}

ImageLayout encode_tree_image(const TreeState& tree, std::string& out, const std::string& name) {
  out.clear();
  ImageWriter w(&out, name, header_of(tree));
  return write_records(tree, w);
}

ImageLayout encode_tree_image(const TreeState& tree, image::ImageChunks& out,
                              const std::string& name) {
  out = {};
  ImageWriter w(&out, name, header_of(tree));
  return write_records(tree, w);
}

namespace {

ImageLayout write_records(const TreeState& tree, ImageWriter& w) {
  ImageLayout layout;
  for (const ProcessState& p : tree.processes)
    write_process(w, p, tree.crid, tree.table_base, layout);
  for (const PipeState& pp : tree.pipes) {
    RecordBuilder r(RecordType::kPipe);
    // The data field is last in the table: it is streamed without a copy.
    write_fields<PipeState>(r, std::span(kPipeFields).first(std::size(kPipeFields) - 1), pp);
    r.tail_bytes(pipe::kData, pp.data);
    w.write(r);
  }
  for (const ShmemState& sh : tree.shmems) {
    RecordBuilder r(RecordType::kShmem);
    write_fields<ShmemState>(r, kShmemFields, sh);
    w.write(r);
    for (const PageExtent& e : sh.pages)
      for (uint64_t done = 0; done < e.count; done += kMaxPagesPerRecord) {
        uint64_t n = std::min(kMaxPagesPerRecord, e.count - done);
        RecordBuilder pr(RecordType::kShmemPages);
        pr.u64(shmempages::kId, sh.id)
            .u64(shmempages::kOffset, e.addr + done * kPageSize)
            .u64(shmempages::kCount, n)
            .tail_bytes(shmempages::kData,
                        std::string_view(e.data).substr(done * kPageSize, n * kPageSize));
        w.write(pr);
      }
  }
  auto write_all = [&w](RecordType type, const auto& objects, const auto& table) {
    for (const auto& o : objects) {
      RecordBuilder r(type);
      write_fields<std::decay_t<decltype(o)>>(r, table, o);
      w.write(r);
    }
  };
  write_all(RecordType::kUnixSocket, tree.unix_sockets, kUnixSocketFields);
  write_all(RecordType::kInetSocket, tree.inet_sockets, kInetSocketFields);
  write_all(RecordType::kInFlightFile, tree.in_flight_files, kInFlightFileFields);
  // An object's record, then one record per part of it naming the object's id.
  auto write_with_parts = [&w](RecordType type, const auto& objects, const auto& table,
                               RecordType part_type, uint32_t owner_field, auto parts_of,
                               const auto& part_table) {
    for (const auto& o : objects) {
      RecordBuilder r(type);
      write_fields<std::decay_t<decltype(o)>>(r, table, o);
      w.write(r);
      for (const auto& part : parts_of(o)) {
        RecordBuilder pr(part_type);
        pr.u64(owner_field, o.id);
        write_fields<std::decay_t<decltype(part)>>(pr, part_table, part);
        w.write(pr);
      }
    }
  };
  write_with_parts(RecordType::kEpoll, tree.epolls, kEpollFields, RecordType::kEpollTarget,
                   epolltarget::kEpollId, [](const EpollState& e) -> auto& { return e.targets; },
                   kEpollTargetFields);
  write_all(RecordType::kEvent, tree.events, kEventFields);
  write_all(RecordType::kTty, tree.ttys, kTtyFields);
  write_with_parts(RecordType::kInotify, tree.inotifies, kInotifyFields,
                   RecordType::kInotifyWatch, inotifywatch::kInotifyId,
                   [](const InotifyState& in) -> auto& { return in.watches; }, kInotifyWatchFields);
  write_all(RecordType::kPidfd, tree.pidfds, kPidfdFields);
  write_all(RecordType::kSysvIpc, tree.sysv_ipc, kSysvIpcFields);
  write_all(RecordType::kMqueue, tree.mqueues, kMqueueFields);
  w.finish();
  layout.bytes = w.bytes_written();
  return layout;
}

}  // namespace

namespace {

TreeState read_tree(ImageReader& reader, const std::string& name) {
  TreeState tree;
  tree.crid = reader.header().crid;
  tree.parent = reader.header().parent;
  std::map<pid_t, size_t> by_pid;
  auto owner = [&](const RecordView& r, uint32_t field) -> ProcessState& {
    pid_t pid = static_cast<pid_t>(r.i64(field));
    auto it = by_pid.find(pid);
    if (it == by_pid.end())
      throw Error("image " + name + ": record of type " + std::to_string(r.type()) + " names pid " +
                  std::to_string(pid) + " before its task record");
    return tree.processes[it->second];
  };
  while (auto rec = reader.next()) {
    const RecordView& r = *rec;
    switch (static_cast<RecordType>(r.type())) {
      case RecordType::kTask: {
        ProcessState p;
        read_fields<ProcessState>(r, kTaskFields, p);
        if (p.pid.value <= 0 || by_pid.count(p.pid.value))
          throw Error("image " + name + ": bad or duplicate task pid " +
                      std::to_string(p.pid.value));
        if (!p.itimers.empty() && p.itimers.size() != 3 * sizeof(itimerval))
          throw Error("image " + name + ": itimers field has a bad length");
        by_pid[p.pid.value] = tree.processes.size();
        tree.processes.push_back(std::move(p));
        break;
      }
      case RecordType::kThread: {
        ThreadState th;
        read_fields<ThreadState>(r, kThreadFields, th);
        owner(r, thread::kPid).threads.push_back(std::move(th));
        break;
      }
      case RecordType::kVma: {
        Vma v;
        read_fields<Vma>(r, kVmaFields, v);
        if (v.end <= v.start || (v.start | v.end) % kPageSize)
          throw Error("image " + name + ": mapping with bad bounds");
        owner(r, vma::kPid).vmas.push_back(std::move(v));
        break;
      }
      case RecordType::kPages: {
        PageExtent e;
        e.addr = r.u64(pages::kAddr);
        e.count = r.u64(pages::kCount);
        std::string_view data = r.bytes(pages::kData);
        if (r.borrowed())
          e.mapped = data;
        else
          e.data = data;
        if (e.count > kMaxPagesPerRecord || data.size() != e.count * kPageSize ||
            e.addr % kPageSize)
          throw Error("image " + name + ": page record at " + std::to_string(e.addr) +
                      " has inconsistent size");
        // Extents stay as the records cut them (at most kMaxPagesPerRecord pages): joining
        // them again would copy every byte once more for no use.
        owner(r, pages::kPid).pages.push_back(std::move(e));
        break;
      }
      case RecordType::kPageRef: {
        PageExtent e;
        e.addr = r.u64(pageref::kAddr);
        e.count = r.u64(pageref::kCount);
        e.data_crid.value = r.u64(pageref::kCrid);
        e.data_offset = r.u64(pageref::kOffset);
        e.data_crc = static_cast<uint32_t>(r.u64(pageref::kCrc));
        if (e.data_crid.value == 0 || e.data_crid.value >= tree.crid.value)
          throw Error("image " + name + ": page reference to CRID " +
                      std::to_string(e.data_crid.value) + " which is not older than this image");
        owner(r, pageref::kPid).pages.push_back(std::move(e));
        break;
      }
      case RecordType::kPageTable:
        read_page_table(r.bytes(pagetable::kRefs), tree.crid, name,
                        owner(r, pagetable::kPid).pages);
        break;
      case RecordType::kPageInherit: {
        Crid base{r.u64(pageinherit::kBase)};
        if (base.value == 0 || base >= tree.crid || (tree.table_base.value && base != tree.table_base))
          throw Error("image " + name + ": inherited ranges with a bad base CRID " +
                      std::to_string(base.value));
        tree.table_base = base;
        read_inherited(r.bytes(pageinherit::kRanges), name, owner(r, pageinherit::kPid).inherited);
        break;
      }
      case RecordType::kFd: {
        FdState f;
        read_fields<FdState>(r, kFdFields, f);
        owner(r, fd::kPid).fds.push_back(std::move(f));
        break;
      }
      case RecordType::kPipe: {
        PipeState pp;
        read_fields<PipeState>(r, kPipeFields, pp);
        tree.pipes.push_back(std::move(pp));
        break;
      }
      case RecordType::kSigaction: {
        SigactionState sa;
        read_fields<SigactionState>(r, kSigactionFields, sa);
        owner(r, sigaction::kPid).sigactions.push_back(sa);
        break;
      }
      case RecordType::kShmem: {
        ShmemState sh;
        read_fields<ShmemState>(r, kShmemFields, sh);
        tree.shmems.push_back(std::move(sh));
        break;
      }
      case RecordType::kUnixSocket:
        read_fields<UnixSocketState>(r, kUnixSocketFields, tree.unix_sockets.emplace_back());
        break;
      case RecordType::kInetSocket:
        read_fields<InetSocketState>(r, kInetSocketFields, tree.inet_sockets.emplace_back());
        break;
      case RecordType::kInFlightFile:
        read_fields<InFlightFileState>(r, kInFlightFileFields, tree.in_flight_files.emplace_back());
        break;
      case RecordType::kEpoll:
        read_fields<EpollState>(r, kEpollFields, tree.epolls.emplace_back());
        break;
      case RecordType::kEpollTarget:
        if (tree.epolls.empty() || tree.epolls.back().id != r.u64(epolltarget::kEpollId))
          throw Error("image " + name + ": epoll target before its epoll record");
        read_fields<EpollTarget>(r, kEpollTargetFields, tree.epolls.back().targets.emplace_back());
        break;
      case RecordType::kEvent:
        read_fields<EventState>(r, kEventFields, tree.events.emplace_back());
        break;
      case RecordType::kTty:
        read_fields<TtyState>(r, kTtyFields, tree.ttys.emplace_back());
        break;
      case RecordType::kPosixTimer:
        read_fields<PosixTimerState>(r, kPosixTimerFields,
                                     owner(r, posixtimer::kPid).posix_timers.emplace_back());
        break;
      case RecordType::kInotify:
        read_fields<InotifyState>(r, kInotifyFields, tree.inotifies.emplace_back());
        break;
      case RecordType::kInotifyWatch:
        if (tree.inotifies.empty() || tree.inotifies.back().id != r.u64(inotifywatch::kInotifyId))
          throw Error("image " + name + ": inotify watch before its inotify record");
        read_fields<InotifyWatch>(r, kInotifyWatchFields,
                                  tree.inotifies.back().watches.emplace_back());
        break;
      case RecordType::kPidfd:
        read_fields<PidfdState>(r, kPidfdFields, tree.pidfds.emplace_back());
        break;
      case RecordType::kMqueue:
        read_fields<MqueueState>(r, kMqueueFields, tree.mqueues.emplace_back());
        break;
      case RecordType::kSysvIpc:
        read_fields<SysvIpcState>(r, kSysvIpcFields, tree.sysv_ipc.emplace_back());
        break;
      case RecordType::kShmemPages: {
        PageExtent e;
        e.addr = r.u64(shmempages::kOffset);
        e.count = r.u64(shmempages::kCount);
        e.data = r.str(shmempages::kData);
        uint64_t id = r.u64(shmempages::kId);
        if (tree.shmems.empty() || tree.shmems.back().id != id)
          throw Error("image " + name + ": shared-memory pages before their object record");
        if (e.count > kMaxPagesPerRecord || e.data.size() != e.count * kPageSize ||
            e.addr % kPageSize ||
            e.addr + e.data.size() >
                (tree.shmems.back().size + kPageSize - 1) / kPageSize * kPageSize)
          throw Error("image " + name + ": shared-memory page record has inconsistent size");
        tree.shmems.back().pages.push_back(std::move(e));
        break;
      }
      default:
        break;  // a record type from a newer writer that this reader can ignore
    }
  }
  // Inline pages and references come from different records: give readers address order.
  for (ProcessState& p : tree.processes)
    std::stable_sort(p.pages.begin(), p.pages.end(),
                     [](const PageExtent& a, const PageExtent& b) { return a.addr < b.addr; });
  for (const ProcessState& p : tree.processes)
    if (!p.zombie && p.threads.empty())
      throw Error("image " + name + ": process " + std::to_string(p.pid.value) + " has no threads");
  return tree;
}

}  // namespace

TreeState read_tree_image(int fd, const std::string& name) {
  ImageReader reader(fd, name);
  return read_tree(reader, name);
}

TreeState read_tree_image_mapped(const std::string& path) {
  auto image = image::MappedImage::open(path);
  ImageReader reader(image, RecordType::kPages);
  TreeState tree = read_tree(reader, path);
  tree.mapped_images.push_back(image);
  tree.unverified.push_back({path, reader.deferred()});
  return tree;
}

ImageLayout write_tree_image_file(const TreeState& tree, const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) throw_errno("open", path);
  ImageLayout layout = write_tree_image(tree, fd.get(), path);
  if (::fsync(fd.get()) < 0) throw_errno("fsync", path);
  return layout;
}

TreeState read_tree_image_file(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", path);
  return read_tree_image(fd.get(), path);
}

uint64_t TreeState::page_bytes() const {
  uint64_t n = 0;
  for (const ProcessState& p : processes)
    for (const PageExtent& e : p.pages) n += e.data.size();
  return n;
}

}  // namespace deja::kmod
