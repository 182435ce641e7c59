// Segment files kept open between frame lookups, so scrubbing a session neither reopens
// (and probes) a file for every moment nor demuxes the segment being recorded from its
// start each time: a kept reader seeks by the keyframes it has already read past.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <utility>

#include "display/VideoReader.h"

namespace deja::display {

/// The most recently used readers of one recordings folder, at most `capacity` open.
class SegmentReaders {
 public:
  explicit SegmentReaders(std::string recordings_dir, size_t capacity = 4)
      : dir_(std::move(recordings_dir)), capacity_(capacity) {}

  /// The reader of `file` (relative to the recordings folder), opened on first use.
  VideoReader& get(const std::string& file);
  /// Closes the reader of `file`, if open: its state is not to be trusted after a failure.
  void drop(const std::string& file);

 private:
  std::string dir_;
  size_t capacity_;
  std::list<std::pair<std::string, std::unique_ptr<VideoReader>>> open_;  // newest first
};

}  // namespace deja::display
