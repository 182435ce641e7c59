// Qt adapter: the sessions of a Timeline as a tree, each branch under the session it was
// revived from.
#pragma once

#include <QAbstractItemModel>

#include "ui/Timeline.h"

namespace deja::ui {

/// A read-only tree over a Timeline: one row per session, children are its branches.
/// An index's internalId is the session's position in the Timeline, which stays valid
/// between resets because the Timeline only renumbers sessions inside a reset.
class SessionTreeModel : public QAbstractItemModel, private TimelineObserver {
  Q_OBJECT
 public:
  enum Column { kId, kName, kState, kCheckpoints, kBranchedFrom, kColumnCount };
  /// The session id of a row, in every column.
  static constexpr int kSessionIdRole = Qt::UserRole + 1;

  explicit SessionTreeModel(Timeline& timeline, QObject* parent = nullptr);
  ~SessionTreeModel() override;

  QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  QModelIndex parent(const QModelIndex& child) const override;
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

  /// The first-column index of the session with this id, or an invalid index.
  QModelIndex index_of_session(const QString& id) const;

 private:
  QModelIndex index_of(size_t session, int column) const;
  void sessions_about_to_reset() override { beginResetModel(); }
  void sessions_reset() override { endResetModel(); }
  void session_changed(size_t index) override;

  Timeline& timeline_;
};

}  // namespace deja::ui
