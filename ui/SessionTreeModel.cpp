#include "ui/SessionTreeModel.h"

namespace deja::ui {

namespace {
QString qs(const std::string& s) {
  return QString::fromStdString(s);
}
}  // namespace

SessionTreeModel::SessionTreeModel(Timeline& timeline, QObject* parent)
    : QAbstractItemModel(parent), timeline_(timeline) {
  timeline_.add_observer(this);
}

SessionTreeModel::~SessionTreeModel() {
  timeline_.remove_observer(this);
}

QModelIndex SessionTreeModel::index_of(size_t session, int column) const {
  return createIndex(static_cast<int>(timeline_.row_of(session)), column,
                     static_cast<quintptr>(session));
}

QModelIndex SessionTreeModel::index(int row, int column, const QModelIndex& parent) const {
  if (!hasIndex(row, column, parent)) return {};
  const auto& rows = parent.isValid() ? timeline_.children(parent.internalId()) : timeline_.roots();
  return createIndex(row, column, static_cast<quintptr>(rows[static_cast<size_t>(row)]));
}

QModelIndex SessionTreeModel::parent(const QModelIndex& child) const {
  if (!child.isValid()) return {};
  size_t p = timeline_.parent_of(child.internalId());
  return p == Timeline::npos ? QModelIndex() : index_of(p, 0);
}

int SessionTreeModel::rowCount(const QModelIndex& parent) const {
  if (parent.column() > 0) return 0;
  return static_cast<int>(parent.isValid() ? timeline_.children(parent.internalId()).size()
                                           : timeline_.roots().size());
}

int SessionTreeModel::columnCount(const QModelIndex&) const {
  return kColumnCount;
}

QVariant SessionTreeModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
  const SessionInfo& s = timeline_.session(index.internalId());
  if (role == kSessionIdRole) return qs(s.id);
  if (role == Qt::ToolTipRole)
    return QStringLiteral("%1 (%2), started %3").arg(qs(s.id), qs(s.name), qs(s.started));
  if (role != Qt::DisplayRole) return {};
  switch (index.column()) {
    case kId:
      return qs(s.id);
    case kName:
      return qs(s.name);
    case kState:
      return qs(s.state);
    case kCheckpoints:
      return QVariant::fromValue(static_cast<qlonglong>(s.checkpoint_count));
    case kBranchedFrom:
      return s.parent ? QStringLiteral("%1:%2").arg(qs(*s.parent)).arg(*s.parent_crid) : QString();
  }
  return {};
}

QVariant SessionTreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case kId:
      return tr("Session");
    case kName:
      return tr("Name");
    case kState:
      return tr("State");
    case kCheckpoints:
      return tr("Checkpoints");
    case kBranchedFrom:
      return tr("Branched from");
  }
  return {};
}

QModelIndex SessionTreeModel::index_of_session(const QString& id) const {
  size_t i = timeline_.find_session(id.toStdString());
  return i == Timeline::npos ? QModelIndex() : index_of(i, 0);
}

void SessionTreeModel::session_changed(size_t index) {
  emit dataChanged(index_of(index, 0), index_of(index, kColumnCount - 1));
}

}  // namespace deja::ui
