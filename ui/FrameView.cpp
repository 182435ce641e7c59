#include "ui/FrameView.h"

#include <QFile>

#include "ui/DejaClient.h"

namespace deja::ui {

FrameView::FrameView(DejaClient& client, QWidget* parent) : QLabel(parent), client_(client) {
  setAlignment(Qt::AlignCenter);
  setMinimumSize(240, 160);
  setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Ignored);
  setFrameShape(QFrame::StyledPanel);
  setWordWrap(true);
  settle_.setSingleShot(true);
  settle_.setInterval(kSettleMs);
  connect(&settle_, &QTimer::timeout, this, &FrameView::fetch);
  show_message(tr("Choose a session to see its screen."));
}

void FrameView::show_time(const QString& session, double t, bool at_once) {
  // Already showing exactly this (refreshes re-place the cursor where it was). A failed
  // fetch is retried: the moment may not have been indexed yet.
  if (session == session_ && t == t_ && !frame_.isNull() && !settle_.isActive()) return;
  session_ = session;
  t_ = t;
  ++generation_;
  if (at_once) {
    settle_.stop();
    if (in_flight_)
      fetch_after_ = true;
    else
      fetch();
  } else {
    settle_.start();
  }
  // Keep showing the previous frame while scrubbing; replace only a stale message.
  if (frame_.isNull()) setText(tr("Loading the screen at %1 s…").arg(t, 0, 'f', 3));
}

void FrameView::show_message(const QString& message) {
  ++generation_;
  settle_.stop();
  frame_ = QPixmap();
  clear();
  setText(message);
}

void FrameView::fetch() {
  if (!dir_.isValid()) {
    show_message(tr("No temporary folder for frames: %1").arg(dir_.errorString()));
    emit updated();
    return;
  }
  const quint64 wanted = generation_;
  in_flight_ = true;
  fetch_after_ = false;
  const QString ref = QStringLiteral("%1@%2").arg(session_).arg(t_, 0, 'f', 3);
  const QString file = dir_.filePath(QStringLiteral("frame-%1.png").arg(wanted));
  client_.run({QStringLiteral("frame"), ref, QStringLiteral("-o"), file}, this,
              [this, wanted, ref, file](const CommandResult& r) {
                QPixmap image;
                if (r.ok) image.load(file);
                QFile::remove(file);
                in_flight_ = false;
                if (wanted != generation_) {  // the cursor has moved on
                  if (!fetch_after_) return;
                  // Playing: this frame is still the newest one shown; then the next.
                  if (!image.isNull()) show_image(image, ref);
                  fetch();
                  return;
                }
                if (!r.ok) {
                  show_message(tr("No frame for %1:\n%2").arg(ref, r.error));
                  emit error(r.error);
                } else if (image.isNull()) {
                  show_message(tr("deja frame %1 wrote no readable PNG.").arg(ref));
                  emit error(tr("deja frame %1 wrote no readable PNG").arg(ref));
                } else {
                  show_image(image, ref);
                }
                emit updated();
              });
}

void FrameView::show_image(const QPixmap& image, const QString& ref) {
  frame_ = image;
  setToolTip(ref);
  rescale();
}

void FrameView::resizeEvent(QResizeEvent* e) {
  QLabel::resizeEvent(e);
  rescale();
}

void FrameView::rescale() {
  if (frame_.isNull()) return;
  setPixmap(frame_.scaled(contentsRect().size(), Qt::KeepAspectRatio, Qt::SmoothTransformation));
}

}  // namespace deja::ui
