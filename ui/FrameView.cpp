#include "ui/FrameView.h"

namespace deja::ui {

FrameView::FrameView(FrameSource& source, QWidget* parent) : QLabel(parent) {
  setAlignment(Qt::AlignCenter);
  setMinimumSize(240, 160);
  setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Ignored);
  setFrameShape(QFrame::StyledPanel);
  setWordWrap(true);
  settle_.setSingleShot(true);
  connect(&settle_, &QTimer::timeout, this, &FrameView::ask);
  set_source(source);
  show_message(tr("Choose a session to see its screen."));
}

void FrameView::set_source(FrameSource& source) {
  if (source_) disconnect(source_, nullptr, this, nullptr);
  source_ = &source;
  connect(&source, &FrameSource::replied, this, &FrameView::replied);
  ++generation_;  // nothing asked of the previous source is an answer any more
  if (!session_.isEmpty()) ask();
}

void FrameView::show_time(const QString& session, double t, bool at_once) {
  // Already showing exactly this (refreshes re-place the cursor where it was). A failed
  // fetch is retried: the moment may not have been indexed yet.
  if (session == session_ && t == t_ && !frame_.isNull() && !settle_.isActive()) return;
  session_ = session;
  t_ = t;
  ++generation_;
  const int settle = source_ ? source_->settle_ms() : 0;
  if (at_once || settle == 0) {
    settle_.stop();
    ask();
  } else {
    settle_.start(settle);
  }
  // Keep showing the previous frame while scrubbing; replace only a stale message.
  if (frame_.isNull()) setText(tr("Loading the screen at %1 s…").arg(t, 0, 'f', 3));
}

void FrameView::show_message(const QString& message) {
  ++generation_;
  settle_.stop();
  frame_ = QImage();
  shown_ = generation_;
  clear();
  setText(message);
}

void FrameView::ask() {
  if (!source_ || session_.isEmpty()) return;
  source_->request(FrameSource::kCursor, {session_, t_, contentsRect().size(), generation_});
}

void FrameView::replied(const FrameReply& reply) {
  const quint64 ticket = reply.request.ticket;
  if (reply.lane != FrameSource::kCursor || ticket <= shown_) return;
  if (ticket != generation_) {
    // The cursor has moved on; this frame is still nearer than the one on screen.
    if (!reply.image.isNull()) show_image(reply);
    return;
  }
  if (!reply.error.isEmpty()) {
    const QString ref = QStringLiteral("%1@%2").arg(reply.request.session).arg(reply.request.t, 0, 'f', 3);
    show_message(tr("No frame for %1:\n%2").arg(ref, reply.error));
    emit error(reply.error);
  } else {
    show_image(reply);
  }
  emit updated();
}

void FrameView::show_image(const FrameReply& reply) {
  shown_ = reply.request.ticket;
  frame_ = reply.image;
  frame_t_ = reply.request.t;
  setToolTip(QStringLiteral("%1@%2").arg(reply.request.session).arg(reply.request.t, 0, 'f', 3));
  unpainted_ = true;
  // Scaled by the source, off the GUI thread, when the view kept its size meanwhile.
  if (!reply.fitted.isNull() && reply.request.fit == contentsRect().size())
    setPixmap(QPixmap::fromImage(reply.fitted));
  else
    rescale();
}

void FrameView::resizeEvent(QResizeEvent* e) {
  QLabel::resizeEvent(e);
  rescale();
}

void FrameView::paintEvent(QPaintEvent* e) {
  QLabel::paintEvent(e);
  if (!unpainted_ || frame_.isNull()) return;
  unpainted_ = false;
  emit painted(frame_t_);
}

void FrameView::rescale() {
  if (frame_.isNull()) return;
  setPixmap(QPixmap::fromImage(fit_image(frame_, contentsRect().size())));
}

}  // namespace deja::ui
