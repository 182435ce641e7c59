#include "recorder/RetentionOfRecordings.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "base/Error.h"
#include "display/SegmentThinning.h"
#include "recorder/GarbageCollector.h"

namespace deja::recorder {

namespace {

// A rewritten segment's copy, beside the file until it is renamed over it.
constexpr const char* kCopySuffix = ".thin.mkv";

// Which of a session's frames (in time order) stay: those the policy keeps as it keeps
// checkpoints, the one on screen at each kept checkpoint, and each of those back to its
// keyframe. Applying it again to what it kept keeps all of it: a bucket's latest frame
// stays the latest, and the frame at a checkpoint stays the last one at or before it.
std::vector<bool> frames_to_keep(const std::vector<db::FrameRow>& frames,
                                 const std::vector<double>& checkpoint_times,
                                 const RetentionPolicy& policy, double now) {
  std::vector<AgedCheckpoint> aged;
  for (size_t i = 0; i < frames.size(); ++i) aged.push_back({i, frames[i].time_ms / 1000.0});
  std::vector<bool> keep(frames.size(), false);
  for (uint64_t i : checkpoints_to_keep(aged, now, policy)) keep[i] = true;
  for (double t : checkpoint_times) {
    auto ms = static_cast<int64_t>(std::floor(t * 1000));
    auto after = std::upper_bound(frames.begin(), frames.end(), ms,
                                  [](int64_t v, const db::FrameRow& f) { return v < f.time_ms; });
    if (after != frames.begin()) keep[after - frames.begin() - 1] = true;
  }
  bool needed = false;  // a later kept frame of the same segment decodes from this one
  for (size_t i = frames.size(); i-- > 0;) {
    if (i + 1 < frames.size() && frames[i].segment != frames[i + 1].segment) needed = false;
    needed = needed || keep[i];
    keep[i] = needed;
    if (frames[i].key) needed = false;
  }
  return keep;
}

// A copy left by a rewrite cut off after the catalog's commit (its size is the one the
// catalog names) is renamed over the file; one cut off before it is removed.
void settle_copy(const std::string& path, const db::SegmentRow& s) {
  std::string copy = path + kCopySuffix;
  struct stat st {};
  if (::stat(copy.c_str(), &st) != 0) return;
  if (st.st_size == s.bytes) {
    if (::rename(copy.c_str(), path.c_str()) != 0) throw_errno("rename", copy);
  } else if (::unlink(copy.c_str()) != 0 && errno != ENOENT) {
    throw_errno("unlink", copy);
  }
}

void rewrite_segment(const std::string& path, const db::SegmentRow& s,
                     const std::vector<db::FrameRow>& kept, db::Catalog& catalog,
                     ThinningReport& report) {
  std::string copy = path + kCopySuffix;
  std::set<int64_t> pts;
  for (const db::FrameRow& f : kept) pts.insert(f.pts_ms);
  int64_t bytes = display::copy_kept_frames(path, pts, copy);
  const int64_t shift = *pts.begin();  // the copy starts at its first kept frame
  std::vector<db::FrameRow> moved = kept;
  for (db::FrameRow& f : moved) f.pts_ms -= shift;
  catalog.thin_segment(s.id, moved, shift, bytes);
  if (::rename(copy.c_str(), path.c_str()) != 0) throw_errno("rename", copy);
  report.bytes_freed += static_cast<uint64_t>(std::max<int64_t>(0, s.bytes - bytes));
}

// False when cut short because others had the lock meanwhile (what was read may be stale).
bool thin_segments(const snapshot::Store& store, db::Catalog& catalog,
                   const std::map<int64_t, db::SegmentRow>& segments,
                   const std::vector<db::FrameRow>& frames, const std::vector<bool>& keep,
                   bool dry_run, const Between& between, ThinningReport& report) {
  std::map<int64_t, std::pair<std::vector<db::FrameRow>, size_t>> by_segment;  // kept, all
  for (size_t i = 0; i < frames.size(); ++i) {
    auto& [kept, total] = by_segment[frames[i].segment];
    ++total;
    if (keep[i]) kept.push_back(frames[i]);
  }
  std::vector<int64_t> dropped;
  ThinningReport drops;  // counted once they are dropped, at the end
  for (const auto& [id, kept] : by_segment) {
    auto known = segments.find(id);
    if (known == segments.end()) continue;  // finished by its recorder since they were read
    const db::SegmentRow& s = known->second;
    std::string path = store.recordings_dir() + "/" + s.file;
    if (!dry_run) settle_copy(path, s);
    const auto& [frames_kept, total] = kept;
    if (frames_kept.size() == total) continue;
    if (frames_kept.empty()) {
      dropped.push_back(id);
      drops.frames_removed += total;
      ++drops.segments_removed;
      drops.bytes_freed += static_cast<uint64_t>(s.bytes);
      continue;
    }
    if (!dry_run && between()) return false;
    report.frames_removed += total - frames_kept.size();
    ++report.segments_rewritten;
    if (!dry_run) rewrite_segment(path, s, frames_kept, catalog, report);
  }
  report.frames_removed += drops.frames_removed;
  report.segments_removed += drops.segments_removed;
  report.bytes_freed += drops.bytes_freed;
  if (dry_run || dropped.empty()) return true;
  catalog.drop_segments(dropped);  // rows first: no row ever names a missing file
  for (int64_t id : dropped) {
    std::string path = store.recordings_dir() + "/" + segments.at(id).file;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("unlink", path);
  }
  return true;
}

// A line of text stays while a remaining frame shows it (taken at or after it came on
// screen and before it left); its first_ms moves to the first such frame, so a search hit
// leads to a frame with the text. Only lines gone by `horizon_ms` are looked at: later
// ones may be on frames not thinned or not indexed yet.
void thin_text(db::Catalog& catalog, const std::string& session,
               const std::vector<db::FrameRow>& frames, const std::vector<bool>& keep,
               int64_t horizon_ms, bool dry_run, ThinningReport& report) {
  std::vector<int64_t> shown;
  for (size_t i = 0; i < frames.size(); ++i)
    if (keep[i]) shown.push_back(frames[i].time_ms);
  std::vector<int64_t> dropped;
  std::vector<db::TextSpan> moved;
  for (db::TextSpan t : catalog.text_gone_by(session, horizon_ms)) {
    auto r = std::lower_bound(shown.begin(), shown.end(), t.first_ms);
    bool on = r != shown.end() && (*r < t.last_ms || *r == t.first_ms);
    if (!on) {
      dropped.push_back(t.id);
    } else if (*r != t.first_ms) {
      t.first_ms = *r;
      moved.push_back(t);
    }
  }
  report.text_removed += dropped.size();
  if (!dry_run && (!dropped.empty() || !moved.empty())) catalog.thin_text(dropped, moved);
}

}  // namespace

ThinningReport thin_recordings(const snapshot::Store& store, db::Catalog& catalog,
                               const RetentionPolicy& policy, double now, bool dry_run,
                               const Between& between) {
  ThinningReport report;
  std::set<std::string> sessions;
  for (db::SegmentRow& s : catalog.complete_segments()) sessions.insert(s.session);
  for (const std::string& session : sessions) {
    // Read again after a slice was cut short: thinning what was thinned keeps all of it.
    for (bool done = false; !done;) {
      std::map<int64_t, db::SegmentRow> its_segments;
      for (db::SegmentRow& s : catalog.complete_segments())
        if (s.session == session) its_segments[s.id] = s;
      std::vector<db::FrameRow> frames = catalog.recorded_frames(session);
      auto rows = catalog.checkpoints(session);
      std::set<uint64_t> kept = kept_checkpoints(catalog, session, rows, policy, now);
      std::vector<double> times;
      for (const auto& r : rows)
        if (kept.count(r.crid.value)) times.push_back(r.time);
      std::vector<bool> keep = frames_to_keep(frames, times, policy, now);
      done = thin_segments(store, catalog, its_segments, frames, keep, dry_run, between, report);
      if (!done) continue;
      int64_t horizon_ms = static_cast<int64_t>((now - policy.keep_all_for) * 1000);
      if (auto open = catalog.first_open_segment_ms(session))
        horizon_ms = std::min(horizon_ms, *open);
      thin_text(catalog, session, frames, keep, horizon_ms, dry_run, report);
    }
  }
  return report;
}

}  // namespace deja::recorder
