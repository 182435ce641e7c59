// A live session's screen in a widget, with the user's keyboard and mouse sent into it.
#pragma once

#include <QImage>
#include <QString>
#include <QTimer>
#include <QWidget>
#include <memory>
#include <optional>

#include "display/ChangeDetector.h"
#include "display/XwdFramebuffer.h"
#include "ui/SessionClipboard.h"
#include "ui/SessionInput.h"

namespace deja::ui {

/// Shows a running session's screen as it changes, scaled to the widget with its aspect
/// kept, and forwards key presses (modifiers included), mouse buttons, wheel and motion
/// to the session's X server. The screen is read from the framebuffer file the session's
/// Xvfb maps (as the recorder reads it), polled every kPollMs and repainted only where it
/// changed. Clipboard text goes both ways (SessionClipboard). When the session ends the last
/// frame stays, with a line saying so.
class LiveView : public QWidget {
  Q_OBJECT
 public:
  /// `framebuffer`: the session's Xvfb_screen0 on the host; `x_socket`: its X server's
  /// socket on the host. Throws an Error when either cannot be opened.
  LiveView(const QString& framebuffer, const QString& x_socket, QWidget* parent = nullptr);

  static constexpr int kPollMs = 15;
  /// How often the X connection is checked for the session's end.
  static constexpr int kAliveCheckMs = 500;
  /// How long the screen is still followed after the session's X server went away.
  static constexpr int kLastDrawingMs = 1000;

  QSize screen_size() const { return {fb_.width(), fb_.height()}; }
  bool session_ended() const { return ended_; }
  QSize sizeHint() const override { return screen_size(); }

 signals:
  /// The session's X server went away; the view keeps its last frame.
  void ended();

 protected:
  void paintEvent(QPaintEvent*) override;
  void keyPressEvent(QKeyEvent*) override;
  void keyReleaseEvent(QKeyEvent*) override;
  void mouseMoveEvent(QMouseEvent*) override;
  void mousePressEvent(QMouseEvent*) override;
  void mouseReleaseEvent(QMouseEvent*) override;
  void wheelEvent(QWheelEvent*) override;
  void focusOutEvent(QFocusEvent*) override;
  // Tab and Shift+Tab belong to the session, not to Qt's focus chain.
  bool focusNextPrevChild(bool) override { return false; }

 private:
  void poll();
  void check_alive();
  QRectF target() const;  // where the screen is drawn in the widget
  QPoint to_screen(QPointF widget_pos) const;
  void send_button(QMouseEvent* e, bool press);

  display::XwdFramebuffer fb_;
  display::ChangeDetector changes_;
  QImage image_;  // wraps changes_' copy of the screen
  std::optional<SessionInput> input_;
  std::optional<SessionClipboard> clipboard_;
  QTimer poll_timer_, alive_timer_;
  QPoint wheel_;  // wheel angle not yet sent (eighths of a degree)
  bool ended_ = false;
};

/// The folder of `store` holding its sessions' files and recordings (its btrfs root).
QString store_root(const QString& store);

/// The live view of running session `session` in the store at `store` (its screen and X
/// socket found in the session's files, as deja view finds them), or null with `error` set.
LiveView* open_session_view(const QString& store, const QString& session, QString* error);

}  // namespace deja::ui
