#include "ui/PlaybackBar.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QPushButton>
#include <algorithm>

namespace deja::ui {

PlaybackBar::PlaybackBar(QWidget* parent) : QWidget(parent) {
  back_ = new QPushButton(tr("◀ Frame"));
  back_->setToolTip(tr("One frame back (%1 s)").arg(kFrameSeconds));
  play_ = new QPushButton(tr("Play"));
  forward_ = new QPushButton(tr("Frame ▶"));
  forward_->setToolTip(tr("One frame forward (%1 s)").arg(kFrameSeconds));
  speed_ = new QComboBox;
  for (int s : kSpeeds) speed_->addItem(tr("%1x").arg(s), s);
  speed_->setToolTip(tr("Playback speed, times real time"));
  auto* row = new QHBoxLayout(this);
  row->setContentsMargins(0, 0, 0, 0);
  row->addWidget(back_);
  row->addWidget(play_);
  row->addWidget(forward_);
  row->addWidget(speed_);
  row->addStretch(1);
  timer_.setInterval(kTickMs);
  connect(&timer_, &QTimer::timeout, this, &PlaybackBar::tick);
  connect(play_, &QPushButton::clicked, this, [this] { playing() ? pause() : play(); });
  connect(back_, &QPushButton::clicked, this, [this] { step(-1); });
  connect(forward_, &QPushButton::clicked, this, [this] { step(1); });
  // A new speed counts from now, not from when Play was pressed.
  connect(speed_, &QComboBox::currentIndexChanged, this, [this] {
    played_from_ = t_;
    since_play_.restart();
  });
}

int PlaybackBar::speed() const {
  return speed_->currentData().toInt();
}

void PlaybackBar::set_speed(int times) {
  const int i = speed_->findData(times);
  if (i >= 0) speed_->setCurrentIndex(i);
}

void PlaybackBar::set_position(double t, double end) {
  end_ = end;
  // The cursor moved by someone else (a scrub) while playing: play on from there.
  if (playing() && t != t_) {
    played_from_ = t;
    since_play_.restart();
  }
  t_ = t;
}

void PlaybackBar::play() {
  if (t_ >= end_) t_ = 0;  // at the end, Play starts over
  played_from_ = t_;
  since_play_.start();
  timer_.start();
  update_label();
}

void PlaybackBar::pause() {
  timer_.stop();
  update_label();
}

void PlaybackBar::step(int frames) {
  pause();
  // A millisecond of slack: the cursor sits on a frame's time as printed to the millisecond.
  constexpr double kSlack = 0.001;
  double t = t_ + frames * kFrameSeconds;
  if (!frames_.empty() && t_ < frames_.back() + kSlack) {
    if (frames > 0) {
      auto next = std::upper_bound(frames_.begin(), frames_.end(), t_ + kSlack);
      if (next != frames_.end()) t = *next;  // past the last known frame: a poll period on
    } else {
      // The frame before the one on screen at the cursor (the last at or before it).
      auto after_shown = std::upper_bound(frames_.begin(), frames_.end(), t_ + kSlack);
      t = after_shown - frames_.begin() < 2 ? 0.0 : *(after_shown - 2);
    }
  }
  t_ = std::clamp(t, 0.0, std::max(0.0, end_));
  emit moved(t_);
}

void PlaybackBar::tick() {
  t_ = std::min(end_, played_from_ + speed() * since_play_.elapsed() / 1000.0);
  if (t_ >= end_) pause();
  emit moved(t_);
}

void PlaybackBar::update_label() {
  play_->setText(playing() ? tr("Pause") : tr("Play"));
}

}  // namespace deja::ui
