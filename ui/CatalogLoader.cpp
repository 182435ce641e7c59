#include "ui/CatalogLoader.h"

#include <QFutureWatcher>
#include <QtConcurrent/QtConcurrentRun>

#include "ui/DejaClient.h"

namespace deja::ui {

CatalogLoader::CatalogLoader(DejaClient& client, Timeline& timeline, QObject* parent)
    : QObject(parent), client_(client), timeline_(timeline) {}

void CatalogLoader::refresh() {
  if (busy_) {
    again_ = true;
    return;
  }
  busy_ = true;
  failed_ = false;
  client_.run({QStringLiteral("sessions"), QStringLiteral("--json")}, this,
              [this](const CommandResult& r) {
                if (r.ok) return sessions_loaded(r.output);
                fail(r.error);
                finish();
              });
}

void CatalogLoader::sessions_loaded(const QByteArray& json) {
  auto parsed = parse_sessions(json);
  if (!parsed.ok()) {
    fail(parsed.error);
    return finish();
  }
  if (auto refused = timeline_.set_sessions(std::move(parsed.value))) {
    fail(QString::fromStdString(*refused));
    return finish();
  }
  pending_.clear();
  for (size_t i = 0; i < timeline_.session_count(); ++i) {
    const SessionInfo& s = timeline_.session(i);
    // Nothing new when the loaded list is as long as the catalog says: a recording session
    // at one checkpoint a second has a long list, and re-reading it every refresh would cost
    // more than everything else the browser does. (`deja gc` removing as many checkpoints as
    // were added in one refresh interval is caught at the next change of the count.)
    bool settled = timeline_.checkpoints_loaded(i) &&
                   static_cast<int64_t>(timeline_.checkpoints(i).size()) == s.checkpoint_count;
    if (!settled) pending_ << QString::fromStdString(s.id);
  }
  load_next_checkpoints();
}

void CatalogLoader::load_next_checkpoints() {
  if (pending_.isEmpty()) return finish();
  const QString id = pending_.takeFirst();
  client_.run({QStringLiteral("checkpoints"), id, QStringLiteral("--json")}, this,
              [this, id](const CommandResult& r) {
                if (!r.ok) {
                  fail(r.error);
                  return load_next_checkpoints();
                }
                // A day of checkpoints at one a second is some 26 MB of JSON and half a
                // second of parsing: parse in the thread pool, apply on this (the UI) thread.
                // The watcher is our child, so a result for a closed window is dropped.
                using Result = Parsed<std::vector<Checkpoint>>;
                auto* watcher = new QFutureWatcher<Result>(this);
                connect(watcher, &QFutureWatcher<Result>::finished, this, [this, id, watcher] {
                  watcher->deleteLater();
                  checkpoints_parsed(id, watcher->result());
                });
                watcher->setFuture(
                    QtConcurrent::run([json = r.output] { return parse_checkpoints(json); }));
              });
}

void CatalogLoader::checkpoints_parsed(const QString& id, Parsed<std::vector<Checkpoint>> parsed) {
  if (!parsed.ok())
    fail(QStringLiteral("checkpoints of %1: %2").arg(id, parsed.error));
  else if (auto refused = timeline_.set_checkpoints(id.toStdString(), std::move(parsed.value)))
    fail(QString::fromStdString(*refused));
  load_next_checkpoints();
}

void CatalogLoader::fail(const QString& message) {
  failed_ = true;
  emit error(message);
}

void CatalogLoader::finish() {
  busy_ = false;
  emit refreshed(!failed_);
  if (again_) {
    again_ = false;
    refresh();
  }
}

}  // namespace deja::ui
