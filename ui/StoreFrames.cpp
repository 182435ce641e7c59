#include "ui/StoreFrames.h"

#include <QDir>
#include <QFileInfo>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <vector>

#include "base/Error.h"
#include "display/DisplayIndex.h"
#include "display/ScreenHistory.h"
#include "ui/BrowserWindow.h"
#include "ui/LiveActivity.h"
#include "ui/LiveView.h"

namespace deja::ui {

namespace {

// The frame's pixels handed to a QImage without a copy (Xvfb's B, G, R, X is Qt's RGB32).
QImage to_image(display::Frame&& frame) {
  auto* pixels = new std::vector<uint8_t>(std::move(frame.bgrx));
  return QImage(
      pixels->data(), frame.width, frame.height, static_cast<qsizetype>(frame.stride()),
      QImage::Format_RGB32, [](void* p) { delete static_cast<std::vector<uint8_t>*>(p); }, pixels);
}

QString seconds(double s) {
  return QStringLiteral("%1 s").arg(s, 0, 'f', 3);
}

// Why there is no frame, in the session's own seconds as the timeline shows them.
QString miss_text(const QString& session, double started, double t, const display::ScreenAt& at) {
  using Miss = display::ScreenAt::Miss;
  auto since_start = [&](int64_t ms) { return seconds(ms / 1000.0 - started); };
  switch (at.miss) {
    case Miss::never:
      return QObject::tr("session %1 has no recorded screen (was it recorded with --no-display?)")
          .arg(session);
    case Miss::before_first:
      return QObject::tr("%1 is before the first recorded frame of session %2, at %3: the screen "
                         "was still starting")
          .arg(seconds(t), session, since_start(at.first_ms));
    case Miss::gap:
      return QObject::tr("%1 is in a gap of session %2's screen recording: from %3 %4 the display "
                         "recorder was stopped or paused")
          .arg(seconds(t), session, since_start(at.gap_from_ms),
               at.gap_to_ms ? QObject::tr("to %1").arg(since_start(*at.gap_to_ms))
                            : QObject::tr("on"));
    case Miss::none:
      break;
  }
  return QObject::tr("session %1 has no frame at %2").arg(session, seconds(t));
}

}  // namespace

// Lives on the worker thread only: DisplayIndex is one connection per thread.
struct StoreFrames::Reader {
  Reader(const std::string& catalog, const std::string& recordings) : index(catalog) {
    for (int lane = 0; lane < kLanes; ++lane)
      histories.push_back(std::make_unique<display::ScreenHistory>(index, recordings));
  }

  // When `session` started, in Unix seconds (it never changes, so it is read once).
  double started(const std::string& session) {
    auto known = started_.find(session);
    if (known != started_.end()) return known->second;
    std::optional<db::SessionRow> row = index.catalog().find_session(session);
    if (!row) throw Error("no session " + session + " in the catalog");
    return started_[session] = row->started;
  }

  FrameReply read(int lane, const FrameRequest& request, const display::Abandon& abandon) {
    FrameReply reply{lane, request, {}, {}, {}};
    const std::string session = request.session.toStdString();
    const double begin = started(session);
    if (request.t < 0) {
      reply.error = QObject::tr("%1 is before session %2 started").arg(seconds(request.t), request.session);
      return reply;
    }
    // As deja frame rounds: a moment printed to the millisecond lands on its own frame.
    const auto ms = static_cast<int64_t>(std::llround((begin + request.t) * 1000));
    display::ScreenAt at = histories[static_cast<size_t>(lane)]->at(session, ms, abandon);
    if (!at.frame) {
      reply.error = miss_text(request.session, begin, request.t, at);
      return reply;
    }
    reply.image = to_image(std::move(*at.frame));
    if (!request.fit.isEmpty()) reply.fitted = fit_image(reply.image, request.fit);
    return reply;
  }

  display::DisplayIndex index;
  std::vector<std::unique_ptr<display::ScreenHistory>> histories;  // one per lane
  std::map<std::string, double> started_;
};

StoreFrames::StoreFrames(QString catalog, QString recordings, QObject* parent)
    : FrameSource(parent), catalog_(std::move(catalog)), recordings_(std::move(recordings)) {
  worker_ = std::thread([this] { work(); });
}

StoreFrames::~StoreFrames() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  worker_.join();
}

void StoreFrames::request(Lane lane, FrameRequest request) {
  {
    std::lock_guard lock(mutex_);
    waiting_[lane] = std::move(request);  // an older one still waiting is dropped
  }
  wake_.notify_one();
}

void StoreFrames::work() {
  std::unique_ptr<Reader> reader;
  // When the cursor's last frame was handed over (worker thread only).
  std::chrono::steady_clock::time_point cursor_shown{};
  for (;;) {
    int lane = 0;
    FrameRequest request;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || waiting_[kCursor] || waiting_[kThumbnails]; });
      if (stopping_) return;
      lane = waiting_[kCursor] ? kCursor : kThumbnails;  // the cursor first
      request = std::move(*waiting_[lane]);
      waiting_[lane].reset();
    }
    // A read is given up between decoded frames for a newer moment of the cursor (a
    // thumbnail for any moment of it), so the end of a drag waits for one read, not for
    // the rest of one passed over. Frames of a drag that never rests would then never
    // come: a cursor read goes on once the last frame shown is kCursorRefresh old.
    const display::Abandon abandon = [&] {
      std::lock_guard lock(mutex_);
      if (stopping_) return true;
      if (!waiting_[kCursor]) return false;
      return lane == kThumbnails ||
             std::chrono::steady_clock::now() - cursor_shown < kCursorRefresh;
    };
    FrameReply reply{lane, request, {}, {}, {}};
    try {
      // Opened here, on the thread that uses it; again after a failure to open it.
      if (!reader) reader = std::make_unique<Reader>(catalog_.toStdString(), recordings_.toStdString());
      reply = reader->read(lane, request, abandon);
    } catch (const display::Superseded&) {
      // A thumbnail waits behind the cursor; a cursor's moment is never answered.
      std::lock_guard lock(mutex_);
      if (lane == kThumbnails && !waiting_[kThumbnails]) waiting_[kThumbnails] = std::move(request);
      continue;
    } catch (const std::exception& e) {
      reply.error = QString::fromUtf8(e.what());
    }
    if (lane == kCursor) cursor_shown = std::chrono::steady_clock::now();
    // Delivered on the GUI thread; dropped with this object if it is gone by then.
    QMetaObject::invokeMethod(this, [this, reply] { emit replied(reply); }, Qt::QueuedConnection);
  }
}

void use_store_directly(BrowserWindow& window, const QString& store) {
  window.set_live_view_factory([store](const QString& session, QString* error) {
    return open_session_view(store, session, error);
  });
  const QString catalog = QDir(store).filePath(QStringLiteral("catalog.db"));
  if (!QFileInfo::exists(catalog)) return;
  const QString recordings = store_root(store) + QStringLiteral("/recordings");
  window.set_frame_source(new StoreFrames(catalog, recordings));
  auto live = std::make_shared<LiveFrameTimes>(catalog.toStdString(), recordings.toStdString());
  window.set_frame_times_reader(
      [live](const std::string& session, double started) { return live->read(session, started); });
}

}  // namespace deja::ui
