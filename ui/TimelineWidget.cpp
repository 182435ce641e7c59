#include "ui/TimelineWidget.h"

#include <QHelpEvent>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QPolygonF>
#include <QToolTip>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>
#include <limits>

#include "ui/CheckpointModel.h"

namespace deja::ui {

TimelineWidget::TimelineWidget(CheckpointModel& model, QWidget* parent)
    : QWidget(parent), model_(model) {
  setFocusPolicy(Qt::StrongFocus);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
  setAccessibleName(tr("Session timeline"));
  // Another session starts unzoomed; a reset of the same one (a refresh) keeps the zoom.
  connect(&model_, &QAbstractItemModel::modelReset, this, [this] {
    if (model_.session() != shown_session_) {
      span_ = reach_ = session_span_ = 0;
      activity_.clear();
      marks_.clear();
      gaps_.clear();
    }
    shown_session_ = model_.session();
    reload();
  });
  // Checkpoints only ever arrive at the end (CheckpointModel resets for anything else), so
  // a long session's ticks are not all re-read each time one is added.
  connect(&model_, &QAbstractItemModel::rowsInserted, this,
          [this](const QModelIndex&, int first, int last) { add_ticks(first, last); });
  reload();
}

void TimelineWidget::reload() {
  ticks_.clear();
  add_ticks(0, model_.rowCount() - 1);
}

void TimelineWidget::add_ticks(int first, int last) {
  ticks_.resize(static_cast<size_t>(first));
  for (int r = first; r <= last; ++r) {
    QModelIndex i = model_.index(r, 0);
    ticks_.push_back({i.data(CheckpointModel::kSecondsRole).toDouble(),
                      i.data(CheckpointModel::kCridRole).toULongLong(),
                      i.data(CheckpointModel::kBranchesRole).toStringList()});
  }
  changed();
}

void TimelineWidget::changed() {
  update();
  const auto range = visible_range();
  if (range == emitted_) return;
  emitted_ = range;
  emit view_changed(range.first, range.second);
}

void TimelineWidget::set_activity(std::vector<int> per_second) {
  activity_ = std::move(per_second);
  update();
}

void TimelineWidget::set_marks(std::vector<double> times) {
  marks_ = std::move(times);
  update();
}

void TimelineWidget::set_gaps(std::vector<RecordingGap> gaps) {
  gaps_ = std::move(gaps);
  update();
}

void TimelineWidget::paint_gaps(QPainter& p, const QRectF& r, double from, double to) const {
  QColor hatch = palette().color(QPalette::Text);
  hatch.setAlpha(90);
  for (const RecordingGap& g : gaps_) {
    const double a = std::max(g.from, from), b = std::min(g.to.value_or(axis_end()), to);
    if (b <= a) continue;
    // At least a pixel wide, so a short gap in a long session is still seen.
    const QRectF span(x_of(a), r.top(), std::max(1.0, x_of(b) - x_of(a)), r.height());
    p.fillRect(span, QBrush(hatch, Qt::BDiagPattern));
  }
}

void TimelineWidget::paint_activity(QPainter& p, const QRectF& r, double from, double to) const {
  if (activity_.empty()) return;
  // The mean of each pixel column's seconds (a column is less than a second when zoomed in:
  // then it takes its second's count).
  const int columns = std::max(1, static_cast<int>(r.width()));
  std::vector<double> mean(static_cast<size_t>(columns), 0.0);
  double top = 0;
  const double per_column = (to - from) / columns;
  for (int c = 0; c < columns; ++c) {
    const double a = from + c * per_column, b = a + per_column;
    const long first = std::max(0L, static_cast<long>(std::floor(a)));
    const long last = std::min(static_cast<long>(activity_.size()) - 1,
                               static_cast<long>(std::ceil(b)) - 1);
    if (last < first) continue;
    double sum = 0;
    for (long s = first; s <= last; ++s) sum += activity_[static_cast<size_t>(s)];
    mean[static_cast<size_t>(c)] = sum / double(last - first + 1);
    top = std::max(top, mean[static_cast<size_t>(c)]);
  }
  if (top <= 0) return;
  QColor fill = palette().color(QPalette::Highlight);
  fill.setAlpha(70);
  for (int c = 0; c < columns; ++c) {
    const double h = (r.height() - 2) * mean[static_cast<size_t>(c)] / top;
    if (h > 0) p.fillRect(QRectF(r.left() + c, r.bottom() - h, 1, h), fill);
  }
}

std::vector<double> TimelineWidget::tick_times() const {
  std::vector<double> out;
  for (const Tick& k : ticks_) out.push_back(k.t);
  return out;
}

std::vector<double> TimelineWidget::branch_times() const {
  std::vector<double> out;
  for (const Tick& k : ticks_)
    if (!k.branches.isEmpty()) out.push_back(k.t);
  return out;
}

void TimelineWidget::set_time(double t) {
  time_ = std::max(0.0, t);
  reach_ = std::max(reach_, time_);
  // Keep the cursor in view when zoomed, as an editor scrolls to its caret.
  if (span_ > 0 && (time_ < start_ || time_ > start_ + span_)) set_view(time_ - span_ / 2, span_);
  changed();
}

void TimelineWidget::set_session_span(double seconds) {
  if (seconds == session_span_) return;
  session_span_ = seconds;
  changed();
}

std::pair<double, double> TimelineWidget::visible_range() const {
  return span_ > 0 ? std::pair(start_, start_ + span_) : std::pair(0.0, axis_end());
}

void TimelineWidget::set_view(double start, double span) {
  const double end = axis_end();
  if (span >= end) {
    span_ = 0;  // everything fits: unzoomed, and the view grows with the session
  } else {
    span_ = std::max(span, kMinSpan);
    start_ = std::clamp(start, 0.0, end - span_);
  }
  changed();
}

double TimelineWidget::axis_end() const {
  double last = ticks_.empty() ? 0.0 : ticks_.back().t;
  // At least one second, so a session with a single checkpoint still has an axis; and as far
  // as any time shown and as the session lasted (or lasts so far), since the screen is
  // recorded past the last checkpoint, in sessions that have no checkpoint at all too.
  return std::max({1.0, last * 1.05, reach_, session_span_});
}

QRectF TimelineWidget::axis_rect() const {
  return QRectF(12, 8, std::max(1, width() - 24), std::max(1, height() - 28));
}

double TimelineWidget::x_of(double t) const {
  QRectF r = axis_rect();
  auto [from, to] = visible_range();
  return r.left() + r.width() * (t - from) / (to - from);
}

double TimelineWidget::t_of(double x) const {
  QRectF r = axis_rect();
  auto [from, to] = visible_range();
  return from + std::clamp((x - r.left()) / r.width(), 0.0, 1.0) * (to - from);
}

void TimelineWidget::scrub_to(double t) {
  set_time(t);
  emit time_scrubbed(time_);
}

void TimelineWidget::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing);
  const QPalette& pal = palette();
  const QRectF r = axis_rect();
  const auto [from, to] = visible_range();
  p.fillRect(rect(), pal.base());
  p.setPen(pal.color(QPalette::Mid));
  p.drawLine(QPointF(r.left(), r.bottom()), QPointF(r.right(), r.bottom()));
  p.setClipRect(r.adjusted(-10, -8, 10, 20));
  paint_gaps(p, r, from, to);
  paint_activity(p, r, from, to);
  // Search hits: small marks on the axis line.
  p.setPen(QPen(QColor(230, 150, 0), 2));
  for (double t : marks_)
    if (t >= from && t <= to) p.drawLine(QPointF(x_of(t), r.bottom() - 6), QPointF(x_of(t), r.bottom()));

  // The cursor goes under the ticks, so the chosen tick stays visible when they coincide;
  // its handle below the axis keeps it findable.
  if (time_ >= from && time_ <= to) {
    const double cx = x_of(time_);
    p.setPen(QPen(QColor(220, 40, 40), 2));
    p.drawLine(QPointF(cx, 2), QPointF(cx, r.bottom()));
    p.setBrush(QColor(220, 40, 40));
    p.drawPolygon(QPolygonF({QPointF(cx, r.bottom()), QPointF(cx - 5, r.bottom() + 7),
                             QPointF(cx + 5, r.bottom() + 7)}));
    p.setBrush(Qt::NoBrush);
  }

  // Ticks; the checkpoint a revive at the cursor would use is taller and highlighted. A long
  // session has far more checkpoints than pixels: one plain tick per pixel column is enough.
  auto current = std::upper_bound(ticks_.begin(), ticks_.end(), Tick{time_, 0, {}}, before);
  const Tick* chosen = current == ticks_.begin() ? nullptr : &*(current - 1);
  auto first = std::lower_bound(ticks_.begin(), ticks_.end(), Tick{from, 0, {}}, before);
  auto last = std::upper_bound(ticks_.begin(), ticks_.end(), Tick{to, 0, {}}, before);
  long drawn_column = std::numeric_limits<long>::min();
  for (auto it = first; it != last; ++it) {
    const Tick& k = *it;
    const bool is_chosen = &k == chosen;
    const double x = x_of(k.t);
    const long column = std::lround(x);
    if (column == drawn_column && !is_chosen && k.branches.isEmpty()) continue;
    drawn_column = column;
    p.setPen(QPen(is_chosen ? pal.color(QPalette::Highlight) : pal.color(QPalette::Text),
                  is_chosen ? 3 : 1));
    const double top = is_chosen ? r.top() : r.top() + r.height() * 0.4;
    p.drawLine(QPointF(x, top), QPointF(x, r.bottom()));
    if (!k.branches.isEmpty()) {
      // A small flag: a revive started here, and the branch is in the tree under this session.
      p.setBrush(pal.color(QPalette::Link));
      p.setPen(Qt::NoPen);
      p.drawPolygon(
          QPolygonF({QPointF(x, r.top()), QPointF(x + 8, r.top() + 4), QPointF(x, r.top() + 8)}));
      p.setBrush(Qt::NoBrush);
    }
  }

  // Second labels at a round step that keeps them 60-160 px apart.
  p.setPen(pal.color(QPalette::Text));
  const double span = to - from;
  double step = std::pow(10.0, std::floor(std::log10(span)));
  while (r.width() * step / span < 60) step *= 2;
  while (r.width() * step / span > 160) step /= 2;
  for (double t = std::ceil(from / step) * step; t <= to + step * 1e-6; t += step) {
    const double x = x_of(t);
    p.drawLine(QPointF(x, r.bottom()), QPointF(x, r.bottom() + 4));
    p.drawText(QRectF(x - 40, r.bottom() + 4, 80, 16), Qt::AlignHCenter | Qt::AlignTop,
               QStringLiteral("%1 s").arg(t, 0, 'g', 6));
  }

  p.setClipping(false);
  if (span_ > 0) {
    p.drawText(rect().adjusted(0, 0, -4, 0), Qt::AlignRight | Qt::AlignTop,
               tr("%1 s of %2 s").arg(span, 0, 'g', 3).arg(axis_end(), 0, 'g', 4));
  }
  if (hasFocus()) {
    p.setPen(QPen(pal.color(QPalette::Highlight), 1, Qt::DotLine));
    p.drawRect(rect().adjusted(0, 0, -1, -1));
  }
}

void TimelineWidget::wheelEvent(QWheelEvent* e) {
  // Vertical wheel zooms about the pointer (the time under it stays put); a horizontal wheel
  // or Shift+wheel pans. 120 units is one notch.
  const QPoint delta = e->angleDelta();
  const bool pan = delta.x() != 0 || (e->modifiers() & Qt::ShiftModifier);
  const double notches = (pan && delta.x() != 0 ? delta.x() : delta.y()) / 120.0;
  auto [from, to] = visible_range();
  const double span = to - from;
  if (pan) {
    if (span_ > 0) set_view(from - notches * span * 0.1, span);
  } else {
    const QRectF r = axis_rect();
    const double fraction = std::clamp((e->position().x() - r.left()) / r.width(), 0.0, 1.0);
    const double anchor = from + fraction * span;
    const double new_span = span / std::pow(kZoomPerNotch, notches);
    set_view(anchor - fraction * new_span, new_span);
  }
  e->accept();
}

void TimelineWidget::mousePressEvent(QMouseEvent* e) {
  if (e->button() == Qt::LeftButton) scrub_to(t_of(e->position().x()));
}

void TimelineWidget::mouseMoveEvent(QMouseEvent* e) {
  if (e->buttons() & Qt::LeftButton) scrub_to(t_of(e->position().x()));
}

void TimelineWidget::keyPressEvent(QKeyEvent* e) {
  switch (e->key()) {
    case Qt::Key_Left: {
      // The latest checkpoint strictly before the cursor.
      auto it = std::lower_bound(ticks_.begin(), ticks_.end(), Tick{time_, 0, {}}, before);
      if (it != ticks_.begin()) scrub_to((it - 1)->t);
      return;
    }
    case Qt::Key_Right: {
      auto it = std::upper_bound(ticks_.begin(), ticks_.end(), Tick{time_, 0, {}}, before);
      if (it != ticks_.end()) scrub_to(it->t);
      return;
    }
    case Qt::Key_Home:
      scrub_to(0);
      return;
    case Qt::Key_End:
      scrub_to(ticks_.empty() ? 0.0 : ticks_.back().t);
      return;
  }
  QWidget::keyPressEvent(e);
}

bool TimelineWidget::event(QEvent* e) {
  if (e->type() != QEvent::ToolTip) return QWidget::event(e);
  auto* help = static_cast<QHelpEvent*>(e);
  const QString text = tooltip_at(help->pos().x());
  if (text.isEmpty()) {
    QToolTip::hideText();
    e->ignore();
    return true;
  }
  QToolTip::showText(help->globalPos(), text, this);
  return true;
}

QString TimelineWidget::tooltip_at(double x) const {
  // The tick under the pointer, if one is within a few pixels.
  const Tick* hit = nullptr;
  for (const Tick& k : ticks_)
    if (std::abs(x_of(k.t) - x) <= 4) hit = &k;
  if (hit) {
    QString text = tr("CRID %1 at %2 s").arg(hit->crid).arg(hit->t, 0, 'f', 3);
    if (!hit->branches.isEmpty())
      text += tr("\nrevived as %1").arg(hit->branches.join(QStringLiteral(", ")));
    return text;
  }
  const double t = t_of(x);
  for (const RecordingGap& g : gaps_) {
    if (t < g.from || t > g.to.value_or(axis_end())) continue;
    const QString why = g.reason == "paused" ? tr("paused") : tr("no recorder");
    const QString until = g.to ? tr("%1 s").arg(*g.to, 0, 'f', 1) : tr("now");
    return tr("Not recorded (%1): %2 s to %3").arg(why).arg(g.from, 0, 'f', 1).arg(until);
  }
  return {};
}

}  // namespace deja::ui
