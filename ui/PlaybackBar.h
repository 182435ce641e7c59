// Playback controls for the timeline: play/pause at 1x to 32x and step by one frame. It
// only moves a time; the window decides what a time shows.
#pragma once

#include <QElapsedTimer>
#include <QTimer>
#include <QWidget>
#include <vector>

class QComboBox;
class QPushButton;

namespace deja::ui {

/// Play/pause, the speed and a frame step back and forth. While playing, `moved` is emitted
/// every kTickMs with the time the clock has reached (wall time since Play times the speed,
/// so a slow frame fetch does not slow the playback down); it stops by itself at `end`.
class PlaybackBar : public QWidget {
  Q_OBJECT
 public:
  explicit PlaybackBar(QWidget* parent = nullptr);

  /// The speeds offered, times real time.
  static constexpr int kSpeeds[] = {1, 2, 4, 8, 16, 32};
  static constexpr int kTickMs = 100;
  /// A frame step where the recorded frames' times are not known (the segment being
  /// recorded has no frame rows yet): the recorder's poll period (it takes at most one frame
  /// per poll, RecorderOptions::max_fps = 5), so such a step never skips a recorded frame.
  static constexpr double kFrameSeconds = 0.2;

  /// The session's recorded frames (seconds, oldest first): a step goes to the next or
  /// previous one of these while the cursor is within them.
  void set_frame_times(std::vector<double> times) { frames_ = std::move(times); }

  /// Where the clock is when playback starts or a step is taken, and where it must stop.
  void set_position(double t, double end);
  bool playing() const { return timer_.isActive(); }
  int speed() const;
  void set_speed(int times);

  void play();
  void pause();
  void step(int frames);  // +1 forward, -1 back: to the next/previous recorded frame

  // The parts, for tests.
  QPushButton* play_button() const { return play_; }
  QPushButton* back_button() const { return back_; }
  QPushButton* forward_button() const { return forward_; }

 signals:
  void moved(double t);

 private:
  void tick();
  void update_label();

  QPushButton* back_;
  QPushButton* play_;
  QPushButton* forward_;
  QComboBox* speed_;
  QTimer timer_;
  QElapsedTimer since_play_;
  double t_ = 0, end_ = 0, played_from_ = 0;
  std::vector<double> frames_;
};

}  // namespace deja::ui
