// The screen as it was at the scrubbed time, asked of a FrameSource (in process in deja-ui).
#pragma once

#include <QImage>
#include <QLabel>
#include <QPointer>
#include <QTimer>

#include "ui/FrameSource.h"

namespace deja::ui {

/// Shows one recorded frame, or a sentence saying why there is none. Scrubbing asks for many
/// frames quickly: the source runs one at a time and only the newest moment waits behind
/// it; a reply for a moment the cursor has left is still shown while the newest is read
/// (it is nearer than the frame on screen), but only the newest counts as the answer.
class FrameView : public QLabel {
  Q_OBJECT
 public:
  explicit FrameView(FrameSource& source, QWidget* parent = nullptr);

  /// Reads frames from `source` from now on (deja-ui gives the window one that reads the
  /// store in process).
  void set_source(FrameSource& source);

  /// Shows the frame of `session` at `t` seconds. With a source that costs a process per
  /// frame, scrubbing rests settle_ms() first; with `at_once` (playback, steps), or a source
  /// that reads in process, it asks at once.
  void show_time(const QString& session, double t, bool at_once = false);
  /// Shows `message` instead of a frame (no session chosen, for instance).
  void show_message(const QString& message);
  /// Whether the last completed request produced an image.
  bool has_frame() const { return !frame_.isNull(); }
  /// The moment of the frame on screen (seconds), when has_frame().
  double frame_time() const { return frame_t_; }

 signals:
  /// No frame for the moment asked last; the one-line reason.
  void error(const QString& message);
  /// The request for the moment asked last completed (with a frame or a message).
  void updated();
  /// A new frame (of the moment `t`) has been painted on screen.
  void painted(double t);

 protected:
  void resizeEvent(QResizeEvent*) override;
  void paintEvent(QPaintEvent*) override;

 private:
  void ask();
  void replied(const FrameReply& reply);
  void show_image(const FrameReply& reply);
  void rescale();

  QPointer<FrameSource> source_;
  QTimer settle_;
  QString session_;
  double t_ = 0;
  quint64 generation_ = 0;  // the ticket of the newest request; older replies are not answers
  quint64 shown_ = 0;       // the ticket of the frame on screen
  QImage frame_;
  double frame_t_ = 0;
  bool unpainted_ = false;  // a new frame waits for its paint
};

}  // namespace deja::ui
