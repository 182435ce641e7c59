#include "recorder/ImageRebase.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <set>

#include "base/Error.h"
#include "kmod/Crc32c.h"
#include "kmod/ImageReader.h"
#include "kmod/PageRefs.h"
#include "kmod/TreeCodec.h"
#include "recorder/UringFileWriter.h"

namespace deja::recorder {

namespace {

using kmod::kPageSize;
using Home = std::pair<uint64_t, uint64_t>;  // image CRID and offset of a page's bytes in it

// The CRID of an image named like a chain image ("SESSION/<CRID>.img"); none for a
// compacted one (<CRID>.full.img), which refers to nothing and cannot be referred to.
std::optional<uint64_t> chain_crid(const std::string& image) {
  std::string name = image.substr(image.rfind('/') + 1);
  if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".img") != 0) return std::nullopt;
  std::string digits = name.substr(0, name.size() - 4);
  if (digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoull(digits);
}

struct Page {
  uint64_t addr;
  Home home;  // {0, 0}: bytes with no known home (always copied)
  std::string_view bytes;
  // A whole reference to an image that stays, kept as it is (its pages are not read).
  const kmod::PageExtent* kept = nullptr;
};

class Rebaser {
 public:
  Rebaser(const snapshot::Store& store, db::Catalog& catalog, const std::string& session,
          std::set<uint64_t> staying)
      : store_(store),
        catalog_(catalog),
        session_(session),
        dir_(store.images_dir() + "/" + session),
        staying_(std::move(staying)),
        fetch_(kmod::image_file_fetcher([this](kmod::Crid c) { return path_of(c.value); })) {}

  void rebase(const db::CheckpointRow& row, RebaseReport& report);

 private:
  std::string path_of(uint64_t crid) const { return dir_ + "/" + std::to_string(crid) + ".img"; }
  void add_pages(const std::vector<kmod::PageExtent>& extents, uint64_t image_crid,
                 const kmod::image::MappedImage& image, uint64_t lo, uint64_t hi,
                 std::vector<Page>& out);
  std::vector<kmod::PageExtent> rebased_pages(kmod::VPid pid, const std::vector<Page>& pages,
                                              std::set<uint64_t>& refs, uint64_t& copied);

  const snapshot::Store& store_;
  db::Catalog& catalog_;
  std::string session_, dir_;
  std::set<uint64_t> staying_;       // images that stay: referring to them costs nothing
  std::map<Home, Home> moved_;       // pages copied into a rebased image this pass
  std::map<std::pair<pid_t, uint64_t>, Home> copied_;  // of the image being written
  std::deque<std::string> fetched_;  // referenced extents read for the image being written
  kmod::PageFetcher fetch_;
};

// The pages of `extents` (inline in `image`, whose CRID is `image_crid`, or referenced) within
// [lo, hi), each with its home and bytes. Referenced extents are read and checked.
void Rebaser::add_pages(const std::vector<kmod::PageExtent>& extents, uint64_t image_crid,
                        const kmod::image::MappedImage& image, uint64_t lo, uint64_t hi,
                        std::vector<Page>& out) {
  for (const kmod::PageExtent& e : extents) {
    uint64_t from = std::max(lo, e.addr), to = std::min(hi, e.addr + e.count * kPageSize);
    if (from >= to) continue;
    if (e.data_crid.value && staying_.count(e.data_crid.value) && from == e.addr &&
        to == e.addr + e.count * kPageSize) {
      out.push_back({e.addr, {0, 0}, {}, &e});
      continue;
    }
    std::string_view bytes;
    Home home{0, 0};
    if (e.data_crid.value) {
      fetched_.push_back(fetch_(e.data_crid, e.data_offset, e.count * kPageSize));
      bytes = fetched_.back();
      if (kmod::crc32c(0, bytes.data(), bytes.size()) != e.data_crc)
        throw Error("pages referenced in image " + path_of(e.data_crid.value) + " at offset " +
                    std::to_string(e.data_offset) + " are damaged (checksum mismatch)");
      home = {e.data_crid.value, e.data_offset};
    } else if (!e.mapped.empty()) {
      bytes = e.mapped;
      home = {image_crid, static_cast<uint64_t>(e.mapped.data() - image.bytes().data())};
    } else {
      bytes = e.data;
    }
    for (uint64_t a = from; a < to; a += kPageSize) {
      uint64_t i = (a - e.addr) / kPageSize;
      Home h = home.first ? Home{home.first, home.second + i * kPageSize} : home;
      out.push_back({a, h, bytes.substr(i * kPageSize, kPageSize)});
    }
  }
}

// New extents for one process's pages (in address order): references to pages whose image
// stays or that this pass copied already, the others copied in.
std::vector<kmod::PageExtent> Rebaser::rebased_pages(kmod::VPid pid,
                                                     const std::vector<Page>& pages,
                                                     std::set<uint64_t>& refs, uint64_t& copied) {
  std::vector<kmod::PageExtent> out;
  for (const Page& p : pages) {
    if (p.kept) {
      refs.insert(p.kept->data_crid.value);
      out.push_back(*p.kept);
      continue;
    }
    std::optional<Home> target;
    if (p.home.first && staying_.count(p.home.first)) {
      target = p.home;
    } else if (auto m = moved_.find(p.home); p.home.first && m != moved_.end()) {
      target = m->second;
    }
    kmod::PageExtent* last = out.empty() ? nullptr : &out.back();
    bool follows = last && last->addr + last->count * kPageSize == p.addr;
    if (target) {
      refs.insert(target->first);
      if (follows && last->data_crid.value == target->first &&
          last->data_offset + last->count * kPageSize == target->second) {
        last->data_crc = kmod::crc32c(last->data_crc, p.bytes.data(), p.bytes.size());
        ++last->count;
      } else {
        out.push_back(kmod::PageExtent{p.addr, 1, {}, kmod::Crid{target->first}, target->second,
                                       kmod::crc32c(0, p.bytes.data(), p.bytes.size())});
      }
      continue;
    }
    ++copied;
    if (p.home.first) copied_[{pid.value, p.addr}] = p.home;
    if (follows && last->data_crid.value == 0) {
      last->data.append(p.bytes);
      ++last->count;
    } else {
      out.push_back(kmod::PageExtent{p.addr, 1, std::string(p.bytes), kmod::Crid{}, 0, 0});
    }
  }
  return out;
}

void Rebaser::rebase(const db::CheckpointRow& row, RebaseReport& report) {
  std::string path = store_.images_dir() + "/" + *row.image;
  uint64_t image_crid = *chain_crid(*row.image);
  kmod::TreeState tree = kmod::read_tree_image_mapped(path);
  kmod::check_mapped_pages(tree);
  std::optional<kmod::TreeState> base;
  std::set<uint64_t> refs;
  uint64_t copied = 0;
  fetched_.clear();
  copied_.clear();
  for (kmod::ProcessState& p : tree.processes) {
    std::vector<Page> pages;
    add_pages(p.pages, image_crid, *tree.mapped_images[0], 0, UINT64_MAX, pages);
    if (!p.inherited.empty()) {
      // Inherited ranges become explicit pages: the rebased image has a full table.
      if (!base) {
        base = kmod::read_tree_image_mapped(path_of(tree.table_base.value));
        kmod::check_mapped_pages(*base);
      }
      const kmod::ProcessState* from = nullptr;
      for (const kmod::ProcessState& b : base->processes)
        if (b.pid == p.pid && !b.zombie) from = &b;
      size_t before = pages.size(), want = 0;
      for (const auto& [start, end] : p.inherited) {
        want += (end - start) / kPageSize;
        if (from)
          add_pages(from->pages, tree.table_base.value, *base->mapped_images[0], start, end,
                    pages);
      }
      size_t got = 0;  // a whole reference kept as it is stands for all its pages
      for (size_t i = before; i < pages.size(); ++i) got += pages[i].kept ? pages[i].kept->count : 1;
      if (got != want)
        throw Error("image " + path + ": process " + std::to_string(p.pid.value) +
                    " inherits pages its table base does not hold");
      p.inherited.clear();
      std::sort(pages.begin(), pages.end(),
                [](const Page& a, const Page& b) { return a.addr < b.addr; });
    }
    p.pages = rebased_pages(p.pid, pages, refs, copied);
  }
  tree.table_base = kmod::Crid{};
  db::Crid fresh = catalog_.reserve_crid();
  tree.crid = kmod::Crid{fresh.value};
  std::string image;
  kmod::ImageLayout layout = kmod::encode_tree_image(tree, image, path_of(fresh.value));
  std::string_view chunks[] = {image};
  UringFileWriter writer;
  uint64_t bytes = writer.write(path_of(fresh.value), chunks);
  for (const kmod::PageLocation& l : layout.pages)
    for (uint64_t i = 0; i < l.count; ++i)
      if (auto c = copied_.find({l.pid.value, l.addr + i * kPageSize}); c != copied_.end())
        moved_[c->second] = {fresh.value, l.offset + i * kPageSize};
  std::vector<db::Crid> references;
  for (uint64_t r : refs) references.push_back(db::Crid{r});
  catalog_.set_rebased_image(row.crid, session_ + "/" + std::to_string(fresh.value) + ".img",
                             static_cast<int64_t>(bytes), references);
  ++report.images;
  report.bytes_written += bytes;
  report.pages_copied += copied;
}

}  // namespace

namespace {

struct Plan {
  std::map<uint64_t, std::string> images;  // the session's checkpoints and their images
  std::vector<db::CheckpointRow> rebased;  // those to rebase, in CRID order
  std::set<uint64_t> staying;
};

Plan make_plan(db::Catalog& catalog, const std::string& session, bool live) {
  std::vector<db::CheckpointRow> rows = catalog.checkpoints(session);
  std::map<uint64_t, std::vector<uint64_t>> refs = catalog.image_references();
  Plan plan;
  for (const auto& r : rows) plan.images[r.crid.value] = r.image.value_or("");
  // A live recorder builds its next image on its newest one and the images that refers to.
  std::set<uint64_t> live_chain;
  if (live && !rows.empty()) {
    live_chain.insert(rows.back().crid.value);
    for (uint64_t r : refs[rows.back().crid.value]) live_chain.insert(r);
  }
  // The images that stay are those named by kept checkpoints not rebased; a kept image that
  // refers to any other is rebased, which may let the image it is named by go: to a fixpoint.
  std::set<uint64_t> rebased;
  for (bool changed = true; changed;) {
    changed = false;
    plan.staying = live_chain;
    for (const auto& r : rows)
      if (auto c = r.image ? chain_crid(*r.image) : std::nullopt; c && !rebased.count(r.crid.value))
        plan.staying.insert(*c);
    for (const auto& r : rows) {
      if (rebased.count(r.crid.value) || !r.image || !chain_crid(*r.image)) continue;
      if (live && r.crid == rows.back().crid) continue;
      for (uint64_t ref : refs[r.crid.value])
        if (!plan.staying.count(ref)) {
          rebased.insert(r.crid.value);
          changed = true;
          break;
        }
    }
  }
  for (const auto& r : rows)
    if (rebased.count(r.crid.value)) plan.rebased.push_back(r);
  return plan;
}

// After others had the lock: the plan holds while every checkpoint it was made from is
// there with the same image (new ones of a live recorder build on images that stay).
bool plan_holds(db::Catalog& catalog, const std::string& session, const Plan& plan) {
  std::map<uint64_t, std::string> now;
  for (const auto& r : catalog.checkpoints(session)) now[r.crid.value] = r.image.value_or("");
  for (const auto& [crid, image] : plan.images) {
    auto it = now.find(crid);
    if (it == now.end() || it->second != image) return false;
  }
  return true;
}

}  // namespace

RebaseReport rebase_kept_images(const snapshot::Store& store, db::Catalog& catalog,
                                const std::string& session, bool live,
                                const std::function<bool()>& between) {
  RebaseReport report;
  for (bool again = true; again;) {
    again = false;
    Plan plan = make_plan(catalog, session, live);
    Rebaser rebaser(store, catalog, session, plan.staying);
    for (const auto& r : plan.rebased) {
      if (between() && !plan_holds(catalog, session, plan)) {
        again = true;
        break;
      }
      rebaser.rebase(r, report);
      plan.images[r.crid.value] = *catalog.find_checkpoint(session, r.crid)->image;
    }
  }
  return report;
}

}  // namespace deja::recorder
