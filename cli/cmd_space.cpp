// deja pin / rm / df: what the store keeps and what it costs.
#include <dirent.h>
#include <ftw.h>
#include <sys/statvfs.h>

#include <cstdio>
#include <optional>

#include "base/Error.h"
#include "base/Files.h"
#include "base/Json.h"
#include "cli/Args.h"
#include "cli/Command.h"
#include "cli/StoreAccess.h"
#include "db/StoreLock.h"
#include "recorder/GarbageCollector.h"
#include "recorder/Session.h"

namespace deja::cli {

namespace {

// Bytes of the regular files under `path` (their apparent sizes; btrfs shares extents
// between a session's files and its snapshots, so those are counted by number, not size).
thread_local uint64_t g_tree_bytes = 0;
uint64_t tree_bytes(const std::string& path) {
  g_tree_bytes = 0;
  ::nftw(
      path.c_str(),
      [](const char*, const struct stat* st, int type, FTW*) {
        if (type == FTW_F && S_ISREG(st->st_mode)) g_tree_bytes += st->st_size;
        return 0;
      },
      16, FTW_PHYS);
  return g_tree_bytes;
}

size_t entries(const std::string& path) {
  size_t n = 0;
  if (DIR* d = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

struct SessionSpace {
  db::SessionRow row;
  std::string state;
  int64_t checkpoints = 0;
  size_t snapshots = 0;
  uint64_t images = 0, recordings = 0, files = 0;
};

}  // namespace

int cmd_pin(const Invocation& inv) {
  Args args(inv.words, {}, {});
  const std::string& what = args.one_positional("SESSION@T or SESSION:CRID");
  OpenStore s = open_store(inv);
  db::CheckpointRow c = resolve_checkpoint(*s.catalog, what);
  s.catalog->pin(c.session, c.crid);
  std::printf("%s:%llu\n", c.session.c_str(), static_cast<unsigned long long>(c.crid.value));
  return 0;
}

int cmd_rm(const Invocation& inv) {
  Args args(inv.words, {}, {});
  const std::string& id = args.one_positional("SESSION");
  OpenStore s = open_store(inv);
  db::StoreLock lock(s.store.dir(), db::StoreLock::Mode::kExclusive, "rm");
  recorder::remove_session(s.store, *s.catalog, id);
  return 0;
}

int cmd_df(const Invocation& inv) {
  Args args(inv.words, {"json"}, {});
  if (!args.positionals().empty())
    throw Error("unexpected argument '" + args.positionals()[0] + "' (see deja df --help)");
  OpenStore s = open_store(inv);
  struct statvfs fs {};
  if (::statvfs(s.store.root().c_str(), &fs) != 0) throw_errno("statvfs", s.store.root());
  uint64_t size = fs.f_blocks * fs.f_frsize, avail = fs.f_bavail * fs.f_frsize;
  uint64_t used = (fs.f_blocks - fs.f_bfree) * fs.f_frsize;
  std::vector<SessionSpace> rows;
  for (auto& row : s.catalog->sessions()) {
    SessionSpace sp;
    sp.state = recorder::session_state(s.store, row);
    sp.checkpoints = s.catalog->checkpoint_count(row.id);
    sp.snapshots = entries(s.store.snapshots_dir() + "/" + row.id);
    sp.images = tree_bytes(s.store.images_dir() + "/" + row.id);
    sp.recordings = tree_bytes(s.store.recordings_dir() + "/" + row.id);
    sp.files = tree_bytes(s.store.session_subvolume(row.id));
    sp.row = std::move(row);
    rows.push_back(std::move(sp));
  }
  std::optional<snapshot::ImageSpace> image;
  if (s.store.loop_backed()) image = snapshot::LoopImage(s.store.dir()).space(s.store.root());
  if (!args.flag("json")) {
    std::printf("store %s: %.1f MiB used of %.1f MiB, %.1f MiB free\n", s.store.dir().c_str(),
                used / 1048576.0, size / 1048576.0, avail / 1048576.0);
    if (image)
      std::printf(
          "image %s: %.1f MiB, %s; its host file system has %.1f MiB free beyond the "
          "%.1f MiB it keeps\n",
          snapshot::LoopImage(s.store.dir()).path().c_str(), image->device / 1048576.0,
          image->limit ? ("grows up to " + std::to_string(image->limit >> 20) + " MiB").c_str()
                       : "grows while the host has room",
          image->host_spare / 1048576.0, image->host_reserve / 1048576.0);
    std::printf("%-10s %-11s %11s %9s %12s %12s %12s\n", "SESSION", "STATE", "CHECKPOINTS",
                "SNAPSHOTS", "IMAGES MiB", "SCREEN MiB", "FILES MiB");
    for (const auto& r : rows)
      std::printf("%-10s %-11s %11lld %9zu %12.2f %12.2f %12.2f\n", r.row.id.c_str(),
                  r.state.c_str(), static_cast<long long>(r.checkpoints), r.snapshots,
                  r.images / 1048576.0, r.recordings / 1048576.0, r.files / 1048576.0);
    return 0;
  }
  JsonWriter w;
  w.begin_object().key("store").begin_object();
  w.field("path", s.store.dir()).field("size_bytes", size).field("used_bytes", used);
  w.field("free_bytes", avail);
  if (image) {
    w.key("image").begin_object().field("bytes", image->device);
    w.field("allocated_bytes", image->allocated).key("limit_bytes");
    if (image->limit)
      w.value(image->limit);
    else
      w.null();
    w.field("host_spare_bytes", image->host_spare)
        .field("host_reserve_bytes", image->host_reserve)
        .end_object();
  }
  w.end_object().key("sessions").begin_array();
  for (const auto& r : rows) {
    w.begin_object().field("id", r.row.id).field("name", r.row.name).field("state", r.state);
    w.field("checkpoints", r.checkpoints).field("snapshots", static_cast<uint64_t>(r.snapshots));
    w.field("images_bytes", r.images).field("recordings_bytes", r.recordings);
    w.field("files_bytes", r.files).end_object();
  }
  w.end_array().end_object();
  std::printf("%s\n", w.str().c_str());
  return 0;
}

}  // namespace deja::cli
