// The scrubber: a horizontal time axis for one session with a tick per checkpoint and a
// cursor the user drags. It draws from a CheckpointModel and knows nothing of processes.
#pragma once

#include <QStringList>
#include <QWidget>

class QPainter;
#include <utility>
#include <vector>

#include "ui/Activity.h"

namespace deja::ui {

class CheckpointModel;

/// Shows checkpoint times of the model's session as ticks on [0, end]; the cursor marks the
/// scrubbed time and the checkpoint at or before it is drawn highlighted; a checkpoint that
/// branches were revived from carries a marker. Mouse drags and the arrow keys (previous /
/// next checkpoint) move the cursor and emit time_scrubbed; hovering a tick names it; the
/// wheel zooms about the pointer and Shift+wheel pans, for sessions hours long (down to a
/// twentieth of a second). Behind the ticks an activity plot shows screen changes per
/// second (the mean over each pixel column, scaled to the busiest column shown), marks
/// under the axis show search hits, and hatched stretches the gaps in the recording (paused,
/// or no recorder), named when hovered.
class TimelineWidget : public QWidget {
  Q_OBJECT
 public:
  explicit TimelineWidget(CheckpointModel& model, QWidget* parent = nullptr);

  double time() const { return time_; }
  /// Moves the cursor without emitting time_scrubbed (the caller already knows).
  void set_time(double t);
  /// The session's whole time (Timeline::reach): the axis spans at least this much, so a
  /// session without checkpoints, or recorded past its last one, can be scrubbed whole.
  void set_session_span(double seconds);
  /// Screen changes per second from the session's start (see screen_changes_per_second).
  void set_activity(std::vector<int> per_second);
  const std::vector<int>& activity() const { return activity_; }
  /// Times (seconds) to mark under the axis: the search hits in this session.
  void set_marks(std::vector<double> times);
  const std::vector<double>& marks() const { return marks_; }
  /// Stretches with nothing recorded (one still going on reaches the axis end).
  void set_gaps(std::vector<RecordingGap> gaps);
  const std::vector<RecordingGap>& gaps() const { return gaps_; }
  /// What the tooltip at widget x `x` names: the checkpoint within a few pixels, else the
  /// gap there; empty: nothing.
  QString tooltip_at(double x) const;
  /// Checkpoint times as currently drawn, oldest first.
  std::vector<double> tick_times() const;
  /// Times of the checkpoints that have branches.
  std::vector<double> branch_times() const;
  /// The end of the axis: a little past the last checkpoint so it is not on the edge, or the
  /// latest time the cursor was set to, if later.
  double axis_end() const;
  /// The part of [0, axis_end()] on screen: all of it unless zoomed with the wheel.
  std::pair<double, double> visible_range() const;

  /// Zoom per wheel notch, and the shortest stretch of time the widget shows.
  static constexpr double kZoomPerNotch = 1.25;
  static constexpr double kMinSpan = 0.05;

  QSize sizeHint() const override { return {600, 64}; }
  QSize minimumSizeHint() const override { return {200, 48}; }

 signals:
  void time_scrubbed(double t);
  /// visible_range() changed (zoom, pan, a growing axis, another session).
  void view_changed(double from, double to);

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent*) override;
  void mouseMoveEvent(QMouseEvent*) override;
  void keyPressEvent(QKeyEvent*) override;
  void wheelEvent(QWheelEvent*) override;
  bool event(QEvent*) override;

 private:
  void reload();
  /// Reads model rows [first, last] as the ticks from position `first` on.
  void add_ticks(int first, int last);
  QRectF axis_rect() const;
  double x_of(double t) const;
  double t_of(double x) const;
  void scrub_to(double t);
  /// Shows [start, start + span] (clamped to the axis); a span covering it all unzooms.
  void set_view(double start, double span);
  // update() and view_changed when the visible range moved.
  void changed();
  void paint_activity(QPainter& p, const QRectF& r, double from, double to) const;
  void paint_gaps(QPainter& p, const QRectF& r, double from, double to) const;


  struct Tick {
    double t;
    qulonglong crid;
    QStringList branches;  // sessions revived from this checkpoint
  };
  static bool before(const Tick& a, const Tick& b) { return a.t < b.t; }

  CheckpointModel& model_;
  std::vector<Tick> ticks_;
  QString shown_session_;
  double time_ = 0;
  double start_ = 0;  // first second shown, when zoomed
  double span_ = 0;   // seconds shown; 0 when not zoomed (the view follows the axis end)
  double reach_ = 0;  // the latest time set_time has shown for this session
  double session_span_ = 0;  // set_session_span
  std::pair<double, double> emitted_{-1, -1};  // the range view_changed last gave
  std::vector<int> activity_;
  std::vector<double> marks_;
  std::vector<RecordingGap> gaps_;
};

}  // namespace deja::ui
