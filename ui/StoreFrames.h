// Recorded frames read in deja-ui's own process, from the store's catalog and recordings
// (display::ScreenHistory, with its kept segment readers), on a thread of their own.
#pragma once

#include <QString>
#include <array>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "ui/FrameSource.h"

namespace deja::ui {

class BrowserWindow;

/// A FrameSource with one worker thread: the GUI thread only hands over requests and takes
/// replies, so painting never waits on a decode. The cursor's lane is served before the
/// thumbnails'; each lane keeps its own readers, so thumbnails across the day do not evict
/// the segment being scrubbed. A segment still being recorded is read as it grows. A read
/// in progress is given up for a newer request of the cursor (see work()).
class StoreFrames : public FrameSource {
  Q_OBJECT
 public:
  /// `catalog`: the store's catalog.db; `recordings`: its recordings folder.
  StoreFrames(QString catalog, QString recordings, QObject* parent = nullptr);
  /// Waits for the frame being read, if any; replies not delivered yet are dropped.
  ~StoreFrames() override;

  void request(Lane lane, FrameRequest request) override;
  int settle_ms() const override { return 0; }

  /// A drag that never rests still shows a frame this often (plus one read).
  static constexpr std::chrono::milliseconds kCursorRefresh{250};

 private:
  struct Reader;  // the worker's catalog connection and frame readers
  void work();

  const QString catalog_, recordings_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::array<std::optional<FrameRequest>, kLanes> waiting_;  // guarded by mutex_
  bool stopping_ = false;                                     // guarded by mutex_
  std::thread worker_;
};

/// What deja-ui does with the store it is given: revived branches open live (LiveView) and,
/// when the store has a catalog, frames are read in process (StoreFrames) and the activity
/// plot includes the segment still being recorded (LiveFrameTimes).
/// Without one (a scripted deja in tests) the window keeps `deja frame`.
void use_store_directly(BrowserWindow& window, const QString& store);

}  // namespace deja::ui
