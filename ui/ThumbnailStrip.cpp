#include "ui/ThumbnailStrip.h"

#include <QPainter>
#include <algorithm>
#include <cmath>

namespace deja::ui {

ThumbnailStrip::ThumbnailStrip(FrameSource& source, QWidget* parent) : QWidget(parent) {
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
  setMinimumHeight(sizeHint().height());
  settle_.setSingleShot(true);
  settle_.setInterval(kSettleMs);
  connect(&settle_, &QTimer::timeout, this, &ThumbnailStrip::lay_out_slots);
  set_source(source);
}

void ThumbnailStrip::set_source(FrameSource& source) {
  if (source_) disconnect(source_, nullptr, this, nullptr);
  source_ = &source;
  connect(&source, &FrameSource::replied, this, &ThumbnailStrip::replied);
  fetched_.assign(fetched_.size(), false);
  fetching_ = false;  // what the previous source still reads is no answer
  ++generation_;
  if (!times_.empty()) fetch_next();
}

void ThumbnailStrip::show_range(const QString& session, double from, double to) {
  if (session == session_ && from == from_ && to == to_) return;
  if (session != session_) {
    times_.clear();
    images_.clear();
    fetched_.clear();
    barren_ = false;
    update();
  } else if (barren_ || close_to_shown(from, to)) {
    // No picture anywhere (no recorded screen), or every slot would move less than half a
    // slot: not worth a deja frame per slot (a live session's axis grows every second).
    from_ = from;
    to_ = to;
    return;
  }
  session_ = session;
  from_ = from;
  to_ = to;
  settle_.start();
}

int ThumbnailStrip::loaded() const {
  return static_cast<int>(std::count_if(images_.begin(), images_.end(),
                                        [](const QPixmap& p) { return !p.isNull(); }));
}

bool ThumbnailStrip::close_to_shown(double from, double to) const {
  if (times_.empty()) return false;
  const double step = (to - from) / times_.size();
  for (size_t i = 0; i < times_.size(); ++i)
    if (std::abs(from + (i + 0.5) * step - times_[i]) >= step * 0.5) return false;
  return true;
}

void ThumbnailStrip::resizeEvent(QResizeEvent*) {
  settle_.start();
}

void ThumbnailStrip::lay_out_slots() {
  const int count = std::max(1, width() / kSlotWidth);
  const double step = (to_ - from_) / count;
  std::vector<double> times;
  for (int i = 0; i < count; ++i) times.push_back(from_ + (i + 0.5) * step);
  std::vector<QPixmap> images(times.size());
  std::vector<bool> fetched(times.size(), false);
  // A slot whose time moved less than half a slot keeps its picture and is not fetched again.
  for (size_t i = 0; i < times.size() && times.size() == times_.size(); ++i)
    if (fetched_[i] && std::abs(times[i] - times_[i]) < step * 0.5) {
      images[i] = images_[i];
      fetched[i] = true;
      times[i] = times_[i];
    }
  times_ = std::move(times);
  images_ = std::move(images);
  fetched_ = std::move(fetched);
  ++generation_;
  update();
  if (!fetching_) fetch_next();
}

void ThumbnailStrip::fetch_next() {
  auto next = std::find(fetched_.begin(), fetched_.end(), false);
  if (session_.isEmpty() || next == fetched_.end() || !source_) {
    fetching_ = false;
    if (next == fetched_.end() && !fetched_.empty()) {
      barren_ = loaded() == 0;
      emit filled();
    }
    return;
  }
  fetching_ = true;
  asked_ = static_cast<size_t>(next - fetched_.begin());
  source_->request(FrameSource::kThumbnails,
                   {session_, times_[asked_], {kSlotWidth - 4, height() - 4}, generation_});
}

void ThumbnailStrip::replied(const FrameReply& reply) {
  if (reply.lane != FrameSource::kThumbnails || !fetching_) return;
  if (reply.request.ticket == generation_ && asked_ < fetched_.size()) {
    fetched_[asked_] = true;
    if (!reply.image.isNull())
      images_[asked_] = QPixmap::fromImage(
          reply.fitted.isNull() ? fit_image(reply.image, reply.request.fit) : reply.fitted);
    update();
  }
  fetch_next();
}

void ThumbnailStrip::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), palette().window());
  if (times_.empty()) return;
  const double slot = double(width()) / times_.size();
  for (size_t i = 0; i < times_.size(); ++i) {
    const QRectF box(i * slot + 2, 2, slot - 4, height() - 4);
    if (images_[i].isNull()) {
      p.fillRect(box, palette().mid());
      continue;
    }
    const QSizeF s = images_[i].size();
    p.drawPixmap(QPointF(box.center().x() - s.width() / 2, box.center().y() - s.height() / 2),
                 images_[i]);
  }
}

}  // namespace deja::ui
