// What is known about the checkpoint under the cursor: its CRID, FSID, time and downtime.
#pragma once

#include <QStringList>
#include <QWidget>

class QLabel;

namespace deja::ui {

struct Checkpoint;

/// A small form describing one checkpoint, or saying that there is none at this time.
class CheckpointDetails : public QWidget {
  Q_OBJECT
 public:
  explicit CheckpointDetails(QWidget* parent = nullptr);

  /// Describes checkpoint `c` of `session` and the `branches` revived from it; a null `c`
  /// clears the form with `why`.
  void show_checkpoint(const QString& session, const Checkpoint* c, const QString& why = {},
                       const QStringList& branches = {});
  /// The text of the CRID field, e.g. "5632418c:3" (for tests and copying).
  QString reference() const;
  /// The text of the "Revived as" field: branch ids, comma-separated.
  QString branches() const;

 private:
  QLabel* reference_;
  QLabel* time_;
  QLabel* fsid_;
  QLabel* downtime_;
  QLabel* parts_;
  QLabel* size_;
  QLabel* branches_;
};

}  // namespace deja::ui
