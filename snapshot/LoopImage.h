// The image file behind a loop-backed store. Every byte of the btrfs device it holds is
// allocated on the host file system (fallocate, never a sparse promise), so a full host disk
// shows up as btrfs's own ENOSPC, a clean error to whoever writes, and never as an I/O error
// on the backing file, which makes btrfs go read-only for every session. The image starts
// small and grows on demand while the host keeps a reserve free, up to the store's limit.
#pragma once

#include <cstdint>
#include <string>

namespace deja::snapshot {

/// How a loop-backed store's space stands, in bytes.
struct ImageSpace {
  uint64_t device = 0;      // the btrfs device: the image file's size
  uint64_t allocated = 0;   // of it, what the host file system has allocated
  uint64_t limit = 0;       // the most it may grow to (0: no limit but the host's reserve)
  uint64_t store_free = 0;  // what btrfs can still give
  uint64_t host_spare = 0;  // free on the host file system beyond its reserve
  uint64_t host_reserve = 0;
};

/// What a request for room found.
enum class Room {
  enough,     // the store has room (maybe after growing)
  grown,      // it had too little and has grown
  exhausted,  // it has too little and cannot grow: the host is full or the limit reached
};

class LoopImage {
 public:
  /// The image of the store in `dir` (dir/store.btrfs, its limit in dir/image-limit).
  explicit LoopImage(std::string dir);

  const std::string& path() const { return path_; }
  /// Makes and formats a new image: allocated, at most 1 GiB to start, never leaving the
  /// host less than its reserve. `limit` 0: grows as long as the host has room.
  void create(uint64_t limit) const;
  /// An image made sparse by an older Deja is allocated now if the host can back it;
  /// otherwise a warning on stderr says what a full host disk would do to it.
  void allocate_holes() const;
  /// Whether its btrfs (mounted at `root`) has less than `need` beyond the low-water mark.
  bool low(const std::string& root, uint64_t need) const;
  /// Grows the image (mounted at `root`) when its btrfs has less than `need` bytes beyond
  /// the low-water mark free. The caller holds the store's lock.
  Room make_room(const std::string& root, uint64_t need) const;
  ImageSpace space(const std::string& root) const;

 private:
  std::string dir_, path_, limit_path_;
  uint64_t limit() const;
};

/// Free bytes the host file system holding `dir` keeps back from the store.
uint64_t host_reserve(const std::string& dir);

}  // namespace deja::snapshot
