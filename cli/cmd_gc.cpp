// deja gc: thin old checkpoints by the retention policy and remove what nothing needs.
#include <algorithm>
#include <cstdio>
#include <iterator>
#include <set>

#include "base/Error.h"
#include "base/Json.h"
#include "base/Time.h"
#include "cli/Args.h"
#include "cli/Command.h"
#include "cli/RetentionOptions.h"
#include "cli/StoreAccess.h"
#include "db/StoreLock.h"
#include "recorder/GarbageCollector.h"
#include "recorder/RetentionOfRecordings.h"

namespace deja::cli {

recorder::RetentionPolicy retention_policy(const Args& args) {
  recorder::RetentionPolicy p;
  if (auto v = args.option("keep-all")) p.keep_all_for = recorder::parse_duration(*v);
  if (auto v = args.option("keep-minutely")) p.keep_minutely_for = recorder::parse_duration(*v);
  if (auto v = args.option("keep-hourly"))
    p.keep_hourly_for = recorder::parse_duration(*v);
  else
    p.keep_hourly_for = std::max(p.keep_hourly_for, p.keep_minutely_for);
  if (p.keep_minutely_for < p.keep_all_for)
    throw Error("--keep-minutely must be at least --keep-all");
  if (p.keep_hourly_for < p.keep_minutely_for)
    throw Error("--keep-hourly must be at least --keep-minutely");
  return p;
}

int cmd_gc(const Invocation& inv) {
  std::set<std::string> options(std::begin(kRetentionOptions), std::end(kRetentionOptions));
  options.insert("keep-screen");
  Args args(inv.words, {"dry-run", "json"}, options);
  if (!args.positionals().empty())
    throw Error("unexpected argument '" + args.positionals()[0] + "' (see deja gc --help)");
  recorder::RetentionPolicy policy = retention_policy(args);
  OpenStore s = open_store(inv);
  // A long pass (the first over an old store) lets revives and checkpoints in between slices.
  constexpr double kSliceSeconds = 1.0, kPauseSeconds = 1.2;
  db::SlicedLock lock(s.store.dir(), "gc",
                      db::StoreLock(s.store.dir(), db::StoreLock::Mode::kExclusive, "gc"),
                      kSliceSeconds, kPauseSeconds);
  auto between = [&] {
    if (!lock.between()) return false;
    std::fprintf(stderr, "deja gc: let revives and checkpoints use the store for %.1f s\n",
                 kPauseSeconds);
    return true;
  };
  bool json = args.flag("json");
  auto report = recorder::collect_garbage(
      s.store, *s.catalog, policy, unix_now(), args.flag("dry-run"),
      [](size_t done, size_t total, const std::string& what) {
        std::fprintf(stderr, "deja gc: [%zu/%zu] deleting %s\n", done + 1, total, what.c_str());
      },
      between);
  recorder::RecordingsReport screen;
  if (auto v = args.option("keep-screen"))
    screen = recorder::remove_recordings(s.store, *s.catalog,
                                         unix_now() - recorder::parse_duration(*v),
                                         args.flag("dry-run"));
  // After the checkpoints: the frames of those kept stay.
  auto thinned = recorder::thin_recordings(s.store, *s.catalog, policy, unix_now(),
                                          args.flag("dry-run"), between);
  if (json) {
    JsonWriter w;
    w.begin_object().field("dry_run", args.flag("dry-run")).field("kept", report.kept);
    w.key("deleted").begin_array();
    for (const auto& [session, crid] : report.deleted)
      w.begin_object().field("session", session).field("crid", crid).end_object();
    w.end_array().key("leftovers").begin_array();
    for (const auto& p : report.leftovers) w.value(p);
    w.end_array().key("rebased").begin_object().field("images", report.rebased.images);
    w.field("bytes", report.rebased.bytes_written).field("pages_copied", report.rebased.pages_copied);
    w.end_object().key("recordings").begin_object().field("segments", screen.segments);
    w.field("bytes", screen.bytes).key("thinned").begin_object();
    w.field("frames", thinned.frames_removed).field("segments_rewritten", thinned.segments_rewritten);
    w.field("segments_removed", thinned.segments_removed).field("bytes", thinned.bytes_freed);
    w.field("text", thinned.text_removed).end_object().end_object().end_object();
    std::printf("%s\n", w.str().c_str());
  } else {
    std::printf("%s%zu checkpoints kept, %zu deleted (%zu kept images rebased, %.1f MiB), %zu "
                "uncommitted leftovers removed, %zu "
                "screen segments (%.1f MiB) removed; thinning removed %zu frames (%zu segments "
                "rewritten, %zu removed, %.1f MiB) and %zu lines of text\n",
                args.flag("dry-run") ? "dry run: " : "", report.kept, report.deleted.size(),
                report.rebased.images, report.rebased.bytes_written / 1048576.0,
                report.leftovers.size(), screen.segments, screen.bytes / 1048576.0,
                thinned.frames_removed, thinned.segments_rewritten, thinned.segments_removed,
                thinned.bytes_freed / 1048576.0, thinned.text_removed);
  }
  return 0;
}

}  // namespace deja::cli
