// The frame times of a session including the segment still being recorded, whose frames the
// catalog lists only once it is finished (up to a minute later): read from its file.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace deja::display {
class VideoReader;
}

namespace deja::ui {

/// recorded_frame_times() (catalog rows of finished segments) plus the frames of the
/// segments still open, from their packets in the files under the recordings folder
/// (demuxed, not decoded; up to the last whole frame). A reader of each open segment is
/// kept between reads, so each read demuxes only what was appended since (a live session's
/// activity is re-read every refresh). Safe to call from any thread, one call at a time.
class LiveFrameTimes {
 public:
  LiveFrameTimes(std::string catalog, std::string recordings);
  ~LiveFrameTimes();

  /// Seconds since Unix time `started`, oldest first. Throws an Error when the catalog
  /// cannot be read.
  std::vector<double> read(const std::string& session, double started);

 private:
  struct Open {
    std::string session;
    std::unique_ptr<display::VideoReader> reader;
    std::vector<int64_t> pts_ms;  // its frames so far
  };
  // The frames of `session`'s open segment `file` so far, reading what was appended since
  // last time.
  const std::vector<int64_t>& frames_of(const std::string& session, const std::string& file);

  const std::string catalog_, recordings_;
  std::mutex mutex_;
  std::map<std::string, Open> open_;  // by file; forgotten once the segment is finished
};

}  // namespace deja::ui
