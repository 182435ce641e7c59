#include "ui/SessionClipboard.h"

#include <xcb/xcb.h>
#include <xcb/xproto.h>

#include <QClipboard>
#include <QGuiApplication>
#include <cstdlib>
#include <cstring>

#include "ui/SessionInput.h"

namespace deja::ui {

namespace {

template <typename T>
using Reply = std::unique_ptr<T, decltype(&std::free)>;

}  // namespace

SessionClipboard::SessionClipboard(const std::string& x_socket, QObject* parent)
    : QObject(parent), conn_(connect_session_x(x_socket)) {
  xcb_screen_t* screen = xcb_setup_roots_iterator(xcb_get_setup(conn_)).data;
  window_ = xcb_generate_id(conn_);
  // An unmapped window: it only owns the selection and receives the replies.
  xcb_create_window(conn_, XCB_COPY_FROM_PARENT, window_, screen->root, 0, 0, 1, 1, 0,
                    XCB_WINDOW_CLASS_INPUT_ONLY, screen->root_visual, 0, nullptr);
  clipboard_ = atom("CLIPBOARD");
  utf8_ = atom("UTF8_STRING");
  targets_ = atom("TARGETS");
  text_atom_ = atom("TEXT");
  property_ = atom("DEJA_VIEW_CLIPBOARD");
  xcb_flush(conn_);
  notifier_ = std::make_unique<QSocketNotifier>(xcb_get_file_descriptor(conn_),
                                                QSocketNotifier::Read);
  connect(notifier_.get(), &QSocketNotifier::activated, this, &SessionClipboard::read_events);
  connect(QGuiApplication::clipboard(), &QClipboard::dataChanged, this,
          &SessionClipboard::host_changed);
  connect(&poll_, &QTimer::timeout, this, &SessionClipboard::poll_session);
  poll_.start(kPollMs);
  host_changed();  // what the host holds now is pasteable in the session at once
}

SessionClipboard::~SessionClipboard() {
  notifier_.reset();
  xcb_disconnect(conn_);
}

uint32_t SessionClipboard::atom(const char* name) {
  Reply<xcb_intern_atom_reply_t> r(
      xcb_intern_atom_reply(conn_, xcb_intern_atom(conn_, 0, std::strlen(name), name), nullptr),
      &std::free);
  return r ? r->atom : static_cast<uint32_t>(XCB_ATOM_NONE);
}

void SessionClipboard::host_changed() {
  const QString text = QGuiApplication::clipboard()->text();
  if (text.isEmpty() || text == text_) return;  // nothing, or what the session just gave
  text_ = text;
  xcb_set_selection_owner(conn_, window_, clipboard_, XCB_CURRENT_TIME);
  xcb_flush(conn_);
  own_ = true;
}

void SessionClipboard::poll_session() {
  if (xcb_connection_has_error(conn_)) {
    poll_.stop();  // the session ended
    notifier_->setEnabled(false);
    return;
  }
  if (asking_) return;
  Reply<xcb_get_selection_owner_reply_t> owner(
      xcb_get_selection_owner_reply(conn_, xcb_get_selection_owner(conn_, clipboard_), nullptr),
      &std::free);
  if (!owner || owner->owner == XCB_NONE || owner->owner == window_) return;
  own_ = false;
  xcb_convert_selection(conn_, window_, clipboard_, utf8_, property_, XCB_CURRENT_TIME);
  xcb_flush(conn_);
  asking_ = true;
  read_events();  // events XCB queued while it waited for the reply above
}

void SessionClipboard::read_events() {
  while (xcb_generic_event_t* e = xcb_poll_for_event(conn_)) {
    switch (e->response_type & 0x7f) {
      case XCB_SELECTION_REQUEST:
        answer_request(e);
        break;
      case XCB_SELECTION_NOTIFY:
        take_reply();
        break;
      case XCB_SELECTION_CLEAR:
        own_ = false;
        break;
    }
    std::free(e);
  }
}

void SessionClipboard::take_reply() {
  asking_ = false;
  Reply<xcb_get_property_reply_t> p(
      xcb_get_property_reply(conn_,
                             xcb_get_property(conn_, 1, window_, property_, XCB_GET_PROPERTY_TYPE_ANY,
                                              0, 1 << 24),
                             nullptr),
      &std::free);
  if (!p || p->format != 8) return;  // refused, or not text
  const QString text = QString::fromUtf8(static_cast<const char*>(xcb_get_property_value(p.get())),
                                         xcb_get_property_value_length(p.get()));
  if (text.isEmpty() || text == text_) return;
  text_ = text;
  QGuiApplication::clipboard()->setText(text);
  emit from_session(text);
}

void SessionClipboard::answer_request(const xcb_generic_event_t* e) {
  const auto* r = reinterpret_cast<const xcb_selection_request_event_t*>(e);
  xcb_selection_notify_event_t reply{};
  reply.response_type = XCB_SELECTION_NOTIFY;
  reply.time = r->time;
  reply.requestor = r->requestor;
  reply.selection = r->selection;
  reply.target = r->target;
  // An obsolete client may name no property: then the target is the property.
  const uint32_t property = r->property == XCB_NONE ? r->target : r->property;
  reply.property = XCB_NONE;  // refused unless answered below
  const QByteArray utf8 = text_.toUtf8();
  if (own_ && r->target == targets_) {
    const uint32_t offered[] = {targets_, utf8_, XCB_ATOM_STRING, text_atom_};
    xcb_change_property(conn_, XCB_PROP_MODE_REPLACE, r->requestor, property, XCB_ATOM_ATOM, 32,
                        4, offered);
    reply.property = property;
  } else if (own_ && (r->target == utf8_ || r->target == XCB_ATOM_STRING ||
                      r->target == text_atom_)) {
    const QByteArray bytes = r->target == XCB_ATOM_STRING ? text_.toLatin1() : utf8;
    xcb_change_property(conn_, XCB_PROP_MODE_REPLACE, r->requestor, property,
                        r->target == XCB_ATOM_STRING ? static_cast<uint32_t>(XCB_ATOM_STRING) : utf8_, 8,
                        static_cast<uint32_t>(bytes.size()), bytes.constData());
    reply.property = property;
  }
  xcb_send_event(conn_, 0, r->requestor, XCB_EVENT_MASK_NO_EVENT,
                 reinterpret_cast<const char*>(&reply));
  xcb_flush(conn_);
}

}  // namespace deja::ui
