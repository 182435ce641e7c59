// Clipboard text between the viewer's desktop and a session's X server, both ways.
#pragma once

#include <QObject>
#include <QSocketNotifier>
#include <QString>
#include <QTimer>
#include <cstdint>
#include <memory>
#include <string>

#include <xcb/xcb.h>

namespace deja::ui {

/// Keeps the session's CLIPBOARD selection and the host's clipboard (QClipboard) holding the
/// same text. Host to session: when the host clipboard's text changes, a window of ours in
/// the session takes CLIPBOARD and answers the session's paste requests with the text
/// (UTF8_STRING, STRING, TEXT, TARGETS). Session to host: every kPollMs, when someone else
/// owns CLIPBOARD in the session, its text is asked for and, if new, put on the host
/// clipboard (polling: the session's owner may change its text without changing owner,
/// and XFIXES selection events would need another library).
class SessionClipboard : public QObject {
  Q_OBJECT
 public:
  /// Connects to the session's X server on `x_socket` (throws an Error if it cannot).
  explicit SessionClipboard(const std::string& x_socket, QObject* parent = nullptr);
  ~SessionClipboard() override;

  static constexpr int kPollMs = 500;

  /// The text last carried either way.
  const QString& text() const { return text_; }

 signals:
  /// Text from the session reached the host clipboard.
  void from_session(const QString& text);

 private:
  void host_changed();
  void poll_session();
  void read_events();
  void answer_request(const xcb_generic_event_t* e);
  void take_reply();
  uint32_t atom(const char* name);

  xcb_connection_t* conn_ = nullptr;
  uint32_t window_ = 0;
  uint32_t clipboard_ = 0, utf8_ = 0, targets_ = 0, text_atom_ = 0, property_ = 0;
  bool own_ = false;       // our window owns the session's CLIPBOARD
  bool asking_ = false;    // a conversion request is out
  QString text_;
  std::unique_ptr<QSocketNotifier> notifier_;
  QTimer poll_;
};

}  // namespace deja::ui
