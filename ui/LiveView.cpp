#include "ui/LiveView.h"

#include <QFileInfo>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>

#include "display/ScreenRecorder.h"

namespace deja::ui {

namespace {

int x_button(Qt::MouseButton b) {
  switch (b) {
    case Qt::LeftButton: return 1;
    case Qt::MiddleButton: return 2;
    case Qt::RightButton: return 3;
    case Qt::BackButton: return 8;
    case Qt::ForwardButton: return 9;
    default: return 0;
  }
}

// One wheel notch is 120 eighths of a degree; X sends a notch as a click of button 4-7.
constexpr int kNotch = 120;

}  // namespace

LiveView::LiveView(const QString& framebuffer, const QString& x_socket, QWidget* parent)
    : QWidget(parent),
      fb_(framebuffer.toStdString()),
      changes_(fb_.width(), fb_.height()) {
  input_.emplace(x_socket.toStdString());
  clipboard_.emplace(x_socket.toStdString());
  changes_.update(fb_.pixels(), fb_.stride());
  const display::Frame& f = changes_.frame();
  image_ = QImage(f.bgrx.data(), f.width, f.height, static_cast<qsizetype>(f.stride()),
                  QImage::Format_RGB32);
  setFocusPolicy(Qt::StrongFocus);
  setMouseTracking(true);
  setAttribute(Qt::WA_OpaquePaintEvent);
  setCursor(Qt::BlankCursor);  // the session draws its own pointer
  connect(&poll_timer_, &QTimer::timeout, this, &LiveView::poll);
  connect(&alive_timer_, &QTimer::timeout, this, &LiveView::check_alive);
  poll_timer_.start(kPollMs);
  alive_timer_.start(kAliveCheckMs);
}

void LiveView::poll() {
  const QRectF t = target();
  const double sx = t.width() / fb_.width(), sy = t.height() / fb_.height();
  for (const display::Rect& r : changes_.update(fb_.pixels(), fb_.stride())) {
    // One pixel more on each side: scaled edges are smoothed with their neighbours.
    update(QRectF(t.x() + r.x * sx, t.y() + r.y * sy, r.w * sx, r.h * sy)
               .toAlignedRect()
               .adjusted(-1, -1, 1, 1));
  }
}

void LiveView::check_alive() {
  if (ended_ || input_->alive()) return;
  ended_ = true;
  alive_timer_.stop();
  // Xvfb still draws while it shuts down (its cursor, the last windows going); the file
  // keeps what it drew last, which is the screen to stay on.
  QTimer::singleShot(kLastDrawingMs, &poll_timer_, &QTimer::stop);
  setCursor(Qt::ArrowCursor);
  update();
  emit ended();
}

QRectF LiveView::target() const {
  QSizeF s = QSizeF(fb_.width(), fb_.height()).scaled(size(), Qt::KeepAspectRatio);
  return QRectF(QPointF((width() - s.width()) / 2, (height() - s.height()) / 2), s);
}

QPoint LiveView::to_screen(QPointF p) const {
  const QRectF t = target();
  int x = static_cast<int>((p.x() - t.x()) * fb_.width() / t.width());
  int y = static_cast<int>((p.y() - t.y()) * fb_.height() / t.height());
  return {std::clamp(x, 0, fb_.width() - 1), std::clamp(y, 0, fb_.height() - 1)};
}

void LiveView::paintEvent(QPaintEvent* e) {
  QPainter p(this);
  const QRectF t = target();
  p.fillRect(rect(), Qt::black);
  // Smooth when scaled, exact pixels at 1:1.
  p.setRenderHint(QPainter::SmoothPixmapTransform, t.size() != QSizeF(image_.size()));
  p.setClipRegion(e->region());
  p.drawImage(t, image_);
  if (ended_) {
    QRect band(0, 0, width(), fontMetrics().height() + 8);
    p.fillRect(band, QColor(0, 0, 0, 180));
    p.setPen(Qt::white);
    p.drawText(band, Qt::AlignCenter, tr("The session has ended: this is its last screen."));
  }
}

// Repeats are forwarded as the release and press pairs Qt reports them as: the session's
// own repeat never starts then (its delay is longer than the host's repeat interval). They
// cannot be told from fast typing anyway: Qt takes a release and a press of one key with
// the same timestamp for a repeat, and that is what typing "((" through XTest gives.
void LiveView::keyPressEvent(QKeyEvent* e) {
  if (ended_) return;
  input_->key(e->nativeVirtualKey(), e->nativeScanCode(), true);
}

void LiveView::keyReleaseEvent(QKeyEvent* e) {
  if (ended_) return;
  input_->key(e->nativeVirtualKey(), e->nativeScanCode(), false);
}

void LiveView::mouseMoveEvent(QMouseEvent* e) {
  if (ended_) return;
  QPoint s = to_screen(e->position());
  input_->motion(s.x(), s.y());
}

void LiveView::send_button(QMouseEvent* e, bool press) {
  int b = x_button(e->button());
  if (ended_ || b == 0) return;
  QPoint s = to_screen(e->position());
  input_->motion(s.x(), s.y());
  input_->button(b, press);
}

void LiveView::mousePressEvent(QMouseEvent* e) {
  send_button(e, true);
}

void LiveView::mouseReleaseEvent(QMouseEvent* e) {
  send_button(e, false);
}

void LiveView::wheelEvent(QWheelEvent* e) {
  if (ended_) return;
  wheel_ += e->angleDelta();
  auto clicks = [&](int& delta, int up, int down) {
    for (; delta >= kNotch; delta -= kNotch) input_->button(up, true), input_->button(up, false);
    for (; delta <= -kNotch; delta += kNotch)
      input_->button(down, true), input_->button(down, false);
  };
  clicks(wheel_.ry(), 4, 5);
  clicks(wheel_.rx(), 6, 7);
}

void LiveView::focusOutEvent(QFocusEvent* e) {
  // A key held while focus leaves would otherwise stay down in the session.
  if (!ended_) input_->release_all();
  QWidget::focusOutEvent(e);
}

QString store_root(const QString& store) {
  // A loop-backed store keeps its btrfs root in fs/, one on btrfs is its own root
  // (snapshot::Store::root).
  const QString fs = store + QStringLiteral("/fs");
  return QFileInfo(fs + QStringLiteral("/sessions")).isDir() ? fs : store;
}

LiveView* open_session_view(const QString& store, const QString& session, QString* error) {
  const std::string files =
      (store_root(store) + QStringLiteral("/sessions/") + session).toStdString();
  // Only the paths matter here; the geometry is the session's own business.
  const display::SessionDisplay screen = display::session_display(files, "1280x800");
  try {
    return new LiveView(QString::fromStdString(screen.framebuffer_on_host),
                        QString::fromStdString(files + screen.server_socket));
  } catch (const std::exception& e) {
    *error = QString::fromUtf8(e.what());
    return nullptr;
  }
}

}  // namespace deja::ui
