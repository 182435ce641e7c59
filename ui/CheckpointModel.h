// Qt adapter: the checkpoints of one session of a Timeline, oldest first, one row each.
#pragma once

#include <QAbstractTableModel>
#include <QStringList>

#include "ui/Timeline.h"

namespace deja::ui {

/// A read-only table of the chosen session's checkpoints. New checkpoints of a recording
/// session arrive as inserted rows (views keep their selection); anything else resets.
class CheckpointModel : public QAbstractTableModel, private TimelineObserver {
  Q_OBJECT
 public:
  // The ISO time is last: it is long, and t already places the checkpoint in the session.
  enum Column { kCrid, kT, kFsid, kDowntime, kPagesWritten, kTime, kColumnCount };
  /// Seconds since the session started (double), in every column.
  static constexpr int kSecondsRole = Qt::UserRole + 1;
  /// The CRID (qulonglong), in every column.
  static constexpr int kCridRole = Qt::UserRole + 2;
  /// Ids of the sessions revived from this checkpoint (QStringList), in every column.
  static constexpr int kBranchesRole = Qt::UserRole + 3;

  explicit CheckpointModel(Timeline& timeline, QObject* parent = nullptr);
  ~CheckpointModel() override;

  /// Shows this session's checkpoints; an unknown or empty id shows none.
  void set_session(const QString& id);
  const QString& session() const { return session_id_; }
  /// The chosen session's position in the Timeline, or Timeline::npos.
  size_t session_index() const { return session_; }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

 private:
  const std::vector<Checkpoint>* rows() const;
  QStringList branch_ids(uint64_t crid) const;
  void sessions_about_to_reset() override { beginResetModel(); }
  void sessions_reset() override;
  void checkpoints_about_to_append(size_t index, size_t first, size_t last) override;
  void checkpoints_appended(size_t index) override;
  void checkpoints_about_to_reset(size_t index) override;
  void checkpoints_reset(size_t index) override;

  Timeline& timeline_;
  QString session_id_;
  size_t session_ = Timeline::npos;
};

/// "freeze 0.170 ms, snapshot 0.861 ms, thaw 0.036 ms": a checkpoint's downtime by part.
QString downtime_parts_text(const Checkpoint& c);

}  // namespace deja::ui
