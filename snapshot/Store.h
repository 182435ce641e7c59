// The store: one folder holding the catalog and a btrfs file system with the sessions' files,
// their read-only snapshots, checkpoint images and screen recordings. When the folder is not
// on btrfs, the file system is an image file inside it (LoopImage.h: allocated, grown on
// demand), loop-mounted on first use and again after a reboot.
#pragma once

#include <cstdint>
#include <string>

#include "snapshot/LoopImage.h"

namespace deja::snapshot {

class Store {
 public:
  /// Opens the store at `dir`, creating and mounting whatever is missing.
  /// `image_limit` is used only when a new loop image must be made: the most it may grow to
  /// (0: as long as the host file system keeps its reserve).
  static Store open(const std::string& dir, uint64_t image_limit = 0);

  const std::string& dir() const { return dir_; }
  /// The btrfs root holding the subvolumes below (dir itself, or the loop mount).
  const std::string& root() const { return root_; }
  bool loop_backed() const { return loop_backed_; }
  /// Grows a loop-backed store's image when its btrfs has less than `need` bytes (and a
  /// low-water mark) free, if the host can back more. Cheap when there is room: one statvfs.
  Room make_room(uint64_t need = 0) const;
  std::string catalog_path() const { return dir_ + "/catalog.db"; }
  /// Sockets and pid files of running recorders (not in btrfs: never snapshotted).
  std::string run_dir() const { return dir_ + "/run"; }
  std::string sessions_dir() const { return root_ + "/sessions"; }
  std::string snapshots_dir() const { return root_ + "/snapshots"; }
  std::string images_dir() const { return root_ + "/images"; }
  std::string recordings_dir() const { return root_ + "/recordings"; }

  std::string session_subvolume(const std::string& id) const { return sessions_dir() + "/" + id; }
  /// The read-only snapshot of session `id` taken for checkpoint `crid`.
  std::string snapshot_path(const std::string& id, uint64_t crid) const;

 private:
  std::string dir_, root_;
  bool loop_backed_ = false;
};

/// Parses sizes such as 512M, 8G, 1T or plain bytes.
uint64_t parse_size(const std::string& text);

}  // namespace deja::snapshot
