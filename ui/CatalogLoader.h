// Keeps a Timeline in step with the store: lists sessions, then reloads the checkpoints of
// those that may have changed, all through `deja ... --json` run asynchronously.
#pragma once

#include <QObject>
#include <QString>
#include <QStringList>

#include "ui/DejaJson.h"
#include "ui/Timeline.h"

namespace deja::ui {

class DejaClient;

/// One refresh at a time: `deja sessions --json`, then `deja checkpoints ID --json` for
/// each session whose checkpoint count differs from what is loaded, one after another so a
/// large store does not start dozens of processes at once.
class CatalogLoader : public QObject {
  Q_OBJECT
 public:
  CatalogLoader(DejaClient& client, Timeline& timeline, QObject* parent = nullptr);

  /// Starts a refresh; while one runs, another is queued to follow it (once).
  void refresh();

 signals:
  /// A refresh finished; `ok` is false when any of its commands or their output failed.
  void refreshed(bool ok);
  /// A command failed or printed something the timeline refused; one line for the user.
  void error(const QString& message);

 private:
  void sessions_loaded(const QByteArray& json);
  void load_next_checkpoints();
  void checkpoints_parsed(const QString& id, Parsed<std::vector<Checkpoint>> parsed);
  void finish();
  void fail(const QString& message);

  DejaClient& client_;
  Timeline& timeline_;
  bool busy_ = false;
  bool again_ = false;
  bool failed_ = false;
  QStringList pending_;  // sessions whose checkpoints this refresh still has to load
};

}  // namespace deja::ui
