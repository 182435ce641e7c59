#include "ui/FrameSource.h"

#include <QFile>
#include <utility>

#include "ui/DejaClient.h"

namespace deja::ui {

QImage fit_image(const QImage& image, QSize box) {
  if (image.isNull() || box.isEmpty() || image.size() == box) return image;
  return image.scaled(box, Qt::KeepAspectRatio, Qt::SmoothTransformation);
}

ProcessFrames::ProcessFrames(DejaClient& client, QObject* parent)
    : FrameSource(parent), client_(client) {}

void ProcessFrames::request(Lane lane, FrameRequest request) {
  if (running_[lane])
    waiting_[lane] = std::move(request);
  else
    start(lane, std::move(request));
}

void ProcessFrames::start(Lane lane, FrameRequest request) {
  FrameReply reply{lane, request, {}, {}, {}};
  if (!dir_.isValid()) {
    reply.error = tr("no temporary folder for frames: %1").arg(dir_.errorString());
    emit replied(reply);
    return;
  }
  running_[lane] = true;
  const QString ref = QStringLiteral("%1@%2").arg(request.session).arg(request.t, 0, 'f', 3);
  const QString file =
      dir_.filePath(QStringLiteral("%1-%2.png")
                        .arg(lane == kThumbnails ? QStringLiteral("thumb") : QStringLiteral("frame"))
                        .arg(request.ticket));
  client_.run({QStringLiteral("frame"), ref, QStringLiteral("-o"), file}, this,
              [this, reply, ref, file](const CommandResult& r) mutable {
                if (r.ok) reply.image.load(file);
                QFile::remove(file);
                if (!r.ok)
                  reply.error = r.error;
                else if (reply.image.isNull())
                  reply.error = tr("deja frame %1 wrote no readable PNG").arg(ref);
                const Lane lane = static_cast<Lane>(reply.lane);
                running_[lane] = false;
                // The waiting one starts first: a request made from the reply's handler then
                // waits behind it instead of running beside it.
                if (std::optional<FrameRequest> next = std::exchange(waiting_[lane], {}))
                  start(lane, std::move(*next));
                emit replied(reply);
              });
}

}  // namespace deja::ui
