// The screen as it was at the scrubbed time, fetched with `deja frame SESSION@T -o FILE`.
#pragma once

#include <QLabel>
#include <QPixmap>
#include <QTemporaryDir>
#include <QTimer>

namespace deja::ui {

class DejaClient;

/// Shows one recorded frame, or a sentence saying why there is none. Scrubbing asks for many
/// frames quickly; requests are coalesced (only the time where the cursor rests is fetched)
/// and a reply for a time that is no longer wanted is dropped.
class FrameView : public QLabel {
  Q_OBJECT
 public:
  explicit FrameView(DejaClient& client, QWidget* parent = nullptr);

  /// Fetches the frame of `session` at `t` seconds, after a short pause in scrubbing; with
  /// `at_once` (playback, steps) without the pause, one fetch at a time: a time asked for
  /// while one runs is fetched when it answers, and the times between are skipped.
  void show_time(const QString& session, double t, bool at_once = false);
  /// Shows `message` instead of a frame (no session chosen, for instance).
  void show_message(const QString& message);
  /// Whether the last completed request produced an image.
  bool has_frame() const { return !frame_.isNull(); }

  /// Delay between the last scrub and the request, so a drag does not start a process per
  /// mouse move.
  static constexpr int kSettleMs = 150;

 signals:
  /// `deja frame` failed; its one-line message.
  void error(const QString& message);
  /// A request completed (with a frame or a message).
  void updated();

 protected:
  void resizeEvent(QResizeEvent*) override;

 private:
  void fetch();
  void rescale();
  void show_image(const QPixmap& image, const QString& ref);

  DejaClient& client_;
  QTemporaryDir dir_;
  QTimer settle_;
  QString session_;
  double t_ = 0;
  quint64 generation_ = 0;  // bumped per request; replies for older ones are ignored
  bool in_flight_ = false;  // a fetch is running
  bool fetch_after_ = false;  // an at_once time waits for the running fetch
  QPixmap frame_;
};

}  // namespace deja::ui
