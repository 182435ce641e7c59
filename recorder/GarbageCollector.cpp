#include "recorder/GarbageCollector.h"

#include <dirent.h>
#include <ftw.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "base/Error.h"
#include "base/Files.h"
#include "recorder/ImageRebase.h"
#include "recorder/Session.h"
#include "snapshot/Subvolume.h"

namespace deja::recorder {

namespace {

std::vector<std::string> list_folder(const std::string& path) {
  std::vector<std::string> names;
  DIR* d = ::opendir(path.c_str());
  if (!d) return names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  return names;
}

void unlink_image(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("unlink", path);
}

// The image file a checkpoint wrote when it was taken: later images of its session refer to
// pages in it by CRID, even after compaction gave the checkpoint a full image of its own.
std::string chain_image(const snapshot::Store& store, const std::string& session, uint64_t crid) {
  return store.images_dir() + "/" + session + "/" + std::to_string(crid) + ".img";
}

// Deletes a checkpoint's snapshot; its images go with the unneeded ones below.
void delete_snapshot(const snapshot::Store& store, const db::CheckpointRow& c) {
  std::string snap = store.root() + "/" + c.snapshot;
  if (path_exists(snap)) snapshot::delete_subvolume(snap);
}

// Snapshots on disk that no row names. A running recorder's checkpoint in progress has a
// CRID above every committed one of its session, so only those below are leftovers.
std::vector<std::string> find_leftovers(const snapshot::Store& store, db::Catalog& catalog) {
  std::vector<std::string> out;
  for (const std::string& session : list_folder(store.snapshots_dir())) {
    auto rows = catalog.checkpoints(session);
    std::set<uint64_t> committed;
    for (const auto& r : rows) committed.insert(r.crid.value);
    auto known = catalog.find_session(session);
    bool live = known && recorder_alive(store, session);
    uint64_t newest = committed.empty() ? 0 : *committed.rbegin();
    for (const std::string& name : list_folder(store.snapshots_dir() + "/" + session)) {
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      uint64_t crid = std::strtoull(name.c_str(), nullptr, 10);
      if (committed.count(crid) || (live && crid > newest)) continue;
      out.push_back(store.snapshots_dir() + "/" + session + "/" + name);
    }
  }
  return out;
}

// Images nothing needs any more: an image is needed while a checkpoint names it, and so is
// every image that one refers to (for an incremental image, chain or rebased, the
// checkpoint's references; a compacted one, <CRID>.full.img, refers to nothing). A live
// recorder's newest chain image and those it refers to are needed while it builds its next
// image on them. Images of a running recorder's checkpoint in progress (CRIDs above its
// newest committed one, .tmp files included) are left alone.
std::vector<std::string> unneeded_images(const snapshot::Store& store, db::Catalog& catalog) {
  std::map<uint64_t, std::vector<uint64_t>> refs = catalog.image_references();
  std::vector<std::string> out;
  for (const std::string& session : list_folder(store.images_dir())) {
    auto rows = catalog.checkpoints(session);
    bool live = catalog.find_session(session) && recorder_alive(store, session);
    std::set<std::string> named;
    std::set<uint64_t> needed;
    auto need = [&](uint64_t crid) {
      needed.insert(crid);
      for (uint64_t r : refs[crid]) needed.insert(r);
    };
    for (const auto& r : rows) {
      if (!r.image) continue;
      named.insert(store.images_dir() + "/" + *r.image);
      if (!r.image->ends_with(".full.img"))
        for (uint64_t ref : refs[r.crid.value]) needed.insert(ref);
    }
    uint64_t newest = rows.empty() ? 0 : rows.back().crid.value;
    if (live && newest) need(newest);
    std::string dir = store.images_dir() + "/" + session;
    for (const std::string& name : list_folder(dir)) {
      size_t dot = name.find('.');
      if (dot == std::string::npos || dot == 0 || name.find_first_not_of("0123456789") != dot)
        continue;
      uint64_t crid = std::strtoull(name.c_str(), nullptr, 10);
      std::string path = dir + "/" + name;
      if (named.count(path) || (live && crid > newest)) continue;
      if (path == chain_image(store, session, crid) && needed.count(crid)) continue;
      out.push_back(path);
    }
  }
  return out;
}

}  // namespace

namespace {

// Checkpoints no policy may remove: those a branch came from (so the branch tree can always
// show where it came from) and those the user pinned.
void add_protected(db::Catalog& catalog, const std::string& session, std::set<uint64_t>& keep) {
  for (db::Crid c : catalog.branch_points(session)) keep.insert(c.value);
  for (db::Crid c : catalog.pins(session)) keep.insert(c.value);
}

// Deletes the doomed checkpoints' rows, rebases the kept images that referred to theirs
// (recorder/ImageRebase.h; every session, so a pass cut short is finished), then deletes the
// doomed snapshots, the report's leftovers and the images nothing needs any more.
void delete_checkpoints(const snapshot::Store& store, db::Catalog& catalog,
                        const std::vector<db::CheckpointRow>& doomed, GcReport& report,
                        const GcProgress& progress, const Between& between) {
  std::vector<db::Crid> crids;
  for (const auto& r : doomed) crids.push_back(r.crid);
  catalog.delete_checkpoints(crids);
  for (const auto& session : catalog.sessions()) {
    RebaseReport r = rebase_kept_images(store, catalog, session.id,
                                        recorder_alive(store, session.id), between);
    report.rebased.images += r.images;
    report.rebased.bytes_written += r.bytes_written;
    report.rebased.pages_copied += r.pages_copied;
  }
  // Read after the rows went: their own references no longer keep anything. Nothing can
  // need them again, so they are deleted across slices.
  std::vector<std::string> images = unneeded_images(store, catalog);
  size_t total = doomed.size() + report.leftovers.size() + images.size(), done = 0;
  for (const auto& r : doomed) {
    between();
    progress(done++, total, r.session + ":" + std::to_string(r.crid.value));
    delete_snapshot(store, r);
  }
  for (const auto& path : report.leftovers) {
    between();
    progress(done++, total, path);
    if (path_exists(path)) snapshot::delete_subvolume(path);
  }
  for (const auto& path : images) {
    between();
    progress(done++, total, path);
    unlink_image(path);
  }
}

RecordingsReport delete_segments(const snapshot::Store& store, db::Catalog& catalog,
                                 const std::vector<db::SegmentRow>& segments, bool dry_run) {
  RecordingsReport report;
  for (const auto& s : segments) ++report.segments, report.bytes += s.bytes;
  if (dry_run || segments.empty()) return report;
  catalog.delete_segments(segments);
  for (const auto& s : segments) unlink_image(store.recordings_dir() + "/" + s.file);
  return report;
}

}  // namespace

std::set<uint64_t> kept_checkpoints(db::Catalog& catalog, const std::string& session,
                                   const std::vector<db::CheckpointRow>& rows,
                                   const RetentionPolicy& policy, double now) {
  std::vector<AgedCheckpoint> aged;
  for (const auto& r : rows) aged.push_back({r.crid.value, r.time});
  std::set<uint64_t> keep = checkpoints_to_keep(aged, now, policy);
  add_protected(catalog, session, keep);
  return keep;
}

GcReport collect_garbage(const snapshot::Store& store, db::Catalog& catalog,
                         const RetentionPolicy& policy, double now, bool dry_run,
                         const GcProgress& progress, const Between& between) {
  GcReport report;
  std::vector<db::CheckpointRow> doomed;
  for (const auto& session : catalog.sessions()) {
    auto rows = catalog.checkpoints(session.id);
    std::set<uint64_t> keep = kept_checkpoints(catalog, session.id, rows, policy, now);
    for (const auto& r : rows) {
      if (keep.count(r.crid.value)) {
        ++report.kept;
      } else {
        doomed.push_back(r);
        report.deleted.emplace_back(r.session, r.crid.value);
      }
    }
  }
  report.leftovers = find_leftovers(store, catalog);
  if (!dry_run) delete_checkpoints(store, catalog, doomed, report, progress, between);
  return report;
}

RecordingsReport remove_recordings(const snapshot::Store& store, db::Catalog& catalog,
                                   double before, bool dry_run) {
  std::vector<db::SegmentRow> old;
  for (const auto& s : catalog.complete_segments())
    if (s.end_ms < before * 1000) old.push_back(s);
  return delete_segments(store, catalog, old, dry_run);
}

GcReport shed_oldest(const snapshot::Store& store, db::Catalog& catalog, double fraction,
                     RecordingsReport* recordings) {
  GcReport report;
  std::vector<db::CheckpointRow> removable;
  for (const auto& session : catalog.sessions()) {
    auto rows = catalog.checkpoints(session.id);
    std::set<uint64_t> keep;
    if (!rows.empty()) keep.insert(rows.back().crid.value);  // each session's latest
    add_protected(catalog, session.id, keep);
    for (auto& r : rows) {
      if (keep.count(r.crid.value))
        ++report.kept;
      else
        removable.push_back(r);
    }
  }
  std::sort(removable.begin(), removable.end(),
            [](const auto& a, const auto& b) { return a.time < b.time; });
  auto share = [fraction](size_t n) {
    return std::min(n, static_cast<size_t>(std::ceil(static_cast<double>(n) * fraction)));
  };
  removable.resize(share(removable.size()));
  for (const auto& r : removable) report.deleted.emplace_back(r.session, r.crid.value);
  delete_checkpoints(store, catalog, removable, report, [](size_t, size_t, const std::string&) {},
                     never_between);
  auto segments = catalog.complete_segments();
  segments.resize(share(segments.size()));
  *recordings = delete_segments(store, catalog, segments, false);
  return report;
}

void remove_tree(const std::string& path) {
  auto remove = [](const char* p, const struct stat*, int type, FTW*) {
    int rc = type == FTW_DP ? ::rmdir(p) : ::unlink(p);
    return rc == 0 || errno == ENOENT ? 0 : -1;
  };
  if (::nftw(path.c_str(), remove, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
    throw_errno("remove", path);
}

void remove_session(const snapshot::Store& store, db::Catalog& catalog, const std::string& id) {
  db::SessionRow row = known_session(catalog, id);
  std::string state = session_state(store, row);
  if (state != "stopped" && state != "failed")
    throw Error("session " + id + " is " + state + ": deja stop " + id + " first");
  std::string branches;
  for (const auto& s : catalog.sessions())
    if (s.parent == id) branches += (branches.empty() ? "" : ", ") + s.id;
  if (!branches.empty())
    throw Error("session " + id + " has branches (" + branches + "): remove them first");
  catalog.delete_session(id);
  std::string snaps = store.snapshots_dir() + "/" + id;
  for (const std::string& name : list_folder(snaps))
    snapshot::delete_subvolume(snaps + "/" + name);
  remove_tree(snaps);
  remove_tree(store.images_dir() + "/" + id);
  remove_tree(store.recordings_dir() + "/" + id);
  if (path_exists(store.session_subvolume(id)))
    snapshot::delete_subvolume(store.session_subvolume(id));
  for (const char* suffix : {".log", ".alive"})
    ::unlink((store.run_dir() + "/" + id + suffix).c_str());
}

}  // namespace deja::recorder
