// Where the browser's recorded frames come from. The frame at the cursor and the thumbnails
// ask through one FrameSource, each in its own lane; deja-ui reads them in process
// (StoreFrames), and without a catalog to read it runs `deja frame` (ProcessFrames).
#pragma once

#include <QImage>
#include <QObject>
#include <QSize>
#include <QString>
#include <QTemporaryDir>
#include <array>
#include <optional>

namespace deja::ui {

class DejaClient;

/// One frame wanted: `session` at `t` seconds since its start, scaled to fit `fit` (when
/// not empty) with its aspect kept. `ticket` comes back with the reply.
struct FrameRequest {
  QString session;
  double t = 0;
  QSize fit;
  quint64 ticket = 0;
};

/// The answer: `image` (full size) and `fitted` (scaled to the request's `fit`, or null), or
/// `error`, one line saying why there is no frame.
struct FrameReply {
  int lane = 0;
  FrameRequest request;
  QImage image;
  QImage fitted;
  QString error;
};

/// Requests go into lanes; each lane runs one request at a time. A request made while its
/// lane is busy waits, and replaces the one waiting there, which is never answered: when
/// the cursor moves on only the newest moment matters (a source may also give up the one
/// it is reading, see StoreFrames). Replies come on the GUI thread.
class FrameSource : public QObject {
  Q_OBJECT
 public:
  enum Lane { kCursor = 0, kThumbnails = 1, kLanes = 2 };
  using QObject::QObject;

  virtual void request(Lane lane, FrameRequest request) = 0;
  /// How long a scrubbing cursor should rest before asking (a cost per request, such as
  /// starting a process, makes a request per mouse move too many); 0: ask at once.
  virtual int settle_ms() const = 0;

 signals:
  void replied(const FrameReply& reply);
};

/// Frames from `deja frame SESSION@T -o FILE.png`, a process per frame (130-290 ms each).
class ProcessFrames : public FrameSource {
  Q_OBJECT
 public:
  explicit ProcessFrames(DejaClient& client, QObject* parent = nullptr);

  void request(Lane lane, FrameRequest request) override;
  int settle_ms() const override { return kSettleMs; }
  static constexpr int kSettleMs = 150;

 private:
  void start(Lane lane, FrameRequest request);

  DejaClient& client_;
  QTemporaryDir dir_;
  std::array<bool, kLanes> running_{};
  std::array<std::optional<FrameRequest>, kLanes> waiting_;
};

/// `image` scaled to fit `box` with its aspect kept, smoothly; `image` itself when `box` is
/// empty or already its size.
QImage fit_image(const QImage& image, QSize box);

}  // namespace deja::ui
