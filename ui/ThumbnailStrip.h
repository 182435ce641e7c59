// A strip of small frames under the timeline, one per slot across the part of the session
// in view, read like the big frame (their own lane of its FrameSource).
#pragma once

#include <QPixmap>
#include <QPointer>
#include <QTimer>
#include <QWidget>
#include <vector>

#include "ui/FrameSource.h"

namespace deja::ui {

/// Thumbnails of `session` at the middle of each kSlotWidth-pixel slot of [from, to]. A new
/// range is fetched after kSettleMs without change (zooming and a growing live session move
/// it often), one frame at a time, left to right, and only when some slot's moment moved by
/// half a slot or more; slots that moved less keep their picture. A moment without a frame
/// stays an empty slot; a session none of whose slots had a frame (recorded without its
/// screen) is not fetched again until another session is shown.
class ThumbnailStrip : public QWidget {
  Q_OBJECT
 public:
  explicit ThumbnailStrip(FrameSource& source, QWidget* parent = nullptr);
  /// Reads frames from `source` from now on; the slots are read again.
  void set_source(FrameSource& source);

  static constexpr int kSlotWidth = 120;
  static constexpr int kSettleMs = 300;

  void show_range(const QString& session, double from, double to);
  /// The times of the slots, and how many have a picture.
  const std::vector<double>& times() const { return times_; }
  int loaded() const;

  QSize sizeHint() const override { return {600, 76}; }

 signals:
  /// Every slot of the current range has been fetched (with a picture or not).
  void filled();

 protected:
  void paintEvent(QPaintEvent*) override;
  void resizeEvent(QResizeEvent*) override;

 private:
  void lay_out_slots();
  void fetch_next();
  void replied(const FrameReply& reply);
  // Whether [from, to] puts every slot within half a slot of its shown moment.
  bool close_to_shown(double from, double to) const;

  QPointer<FrameSource> source_;
  QTimer settle_;
  QString session_;
  double from_ = 0, to_ = 0;
  std::vector<double> times_;
  std::vector<QPixmap> images_;
  std::vector<bool> fetched_;
  quint64 generation_ = 0;  // bumped per layout of the slots; a reply's ticket carries it
  size_t asked_ = 0;        // the slot being read
  bool fetching_ = false;
  bool barren_ = false;  // the last full round found no frame at all
};

}  // namespace deja::ui
