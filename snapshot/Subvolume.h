// btrfs subvolume operations through libbtrfsutil (ioctls, no `btrfs` program): the session's
// files, read-only snapshots that are checkpoints' FSIDs, and writable clones for branches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace deja::snapshot {

/// Creates an empty subvolume at `path`.
void create_subvolume(const std::string& path);
/// Snapshots `source` at `dest` (read-only or writable) and returns the new subvolume's id.
uint64_t snapshot_subvolume(const std::string& source, const std::string& dest, bool read_only);
/// Deletes the subvolume at `path`.
void delete_subvolume(const std::string& path);
/// The id of the subvolume at `path`.
uint64_t subvolume_id(const std::string& path);
/// The transaction id of the subvolume's last change: equal values mean no file changed.
uint64_t subvolume_generation(const std::string& path);
/// Deleted subvolumes of the file system at `path` whose space btrfs has not freed yet
/// (it frees them in the background).
size_t subvolumes_being_cleaned(const std::string& path);
/// Commits the file system's transaction and wakes its cleaner (BTRFS_IOC_SYNC), which
/// then frees deleted subvolumes; a plain syncfs leaves them to the next periodic commit.
void sync_filesystem(const std::string& path);
/// True when `path` lies on a btrfs file system.
bool on_btrfs(const std::string& path);

}  // namespace deja::snapshot
