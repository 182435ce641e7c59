#include "ui/CheckpointModel.h"

namespace deja::ui {

CheckpointModel::CheckpointModel(Timeline& timeline, QObject* parent)
    : QAbstractTableModel(parent), timeline_(timeline) {
  timeline_.add_observer(this);
}

CheckpointModel::~CheckpointModel() {
  timeline_.remove_observer(this);
}

void CheckpointModel::set_session(const QString& id) {
  beginResetModel();
  session_id_ = id;
  session_ = timeline_.find_session(id.toStdString());
  endResetModel();
}

const std::vector<Checkpoint>* CheckpointModel::rows() const {
  return session_ == Timeline::npos ? nullptr : &timeline_.checkpoints(session_);
}

int CheckpointModel::rowCount(const QModelIndex& parent) const {
  if (parent.isValid() || !rows()) return 0;
  return static_cast<int>(rows()->size());
}

int CheckpointModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : kColumnCount;
}

QVariant CheckpointModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
    return {};
  const Checkpoint& c = (*rows())[static_cast<size_t>(index.row())];
  if (role == kSecondsRole) return c.t;
  if (role == kCridRole) return QVariant::fromValue(static_cast<qulonglong>(c.crid));
  if (role == kBranchesRole) return branch_ids(c.crid);
  if (role == Qt::ToolTipRole) return downtime_parts_text(c);
  if (role == Qt::TextAlignmentRole && index.column() != kTime)
    return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
  if (role != Qt::DisplayRole) return {};
  switch (index.column()) {
    case kCrid:
      return QVariant::fromValue(static_cast<qulonglong>(c.crid));
    case kT:
      return QString::number(c.t, 'f', 3);
    case kTime:
      return QString::fromStdString(c.time);
    case kFsid:
      return QVariant::fromValue(static_cast<qulonglong>(c.fsid));
    case kDowntime:
      return QString::number(c.downtime_ms, 'f', 2);
    case kPagesWritten:
      return QVariant::fromValue(static_cast<qlonglong>(c.pages_written));
  }
  return {};
}

QVariant CheckpointModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case kCrid:
      return tr("CRID");
    case kT:
      return tr("t (s)");
    case kTime:
      return tr("Time (UTC)");
    case kFsid:
      return tr("FSID");
    case kDowntime:
      return tr("Downtime (ms)");
    case kPagesWritten:
      return tr("Pages written");
  }
  return {};
}

QStringList CheckpointModel::branch_ids(uint64_t crid) const {
  QStringList ids;
  for (size_t b : timeline_.branches_from(session_, crid))
    ids << QString::fromStdString(timeline_.session(b).id);
  return ids;
}

void CheckpointModel::sessions_reset() {
  // Sessions are renumbered in a reset; find ours again by id (it may be gone).
  session_ = timeline_.find_session(session_id_.toStdString());
  endResetModel();
}

void CheckpointModel::checkpoints_about_to_append(size_t index, size_t first, size_t last) {
  if (index == session_) beginInsertRows({}, static_cast<int>(first), static_cast<int>(last));
}

void CheckpointModel::checkpoints_appended(size_t index) {
  if (index == session_) endInsertRows();
}

void CheckpointModel::checkpoints_about_to_reset(size_t index) {
  if (index == session_) beginResetModel();
}

void CheckpointModel::checkpoints_reset(size_t index) {
  if (index == session_) endResetModel();
}

QString downtime_parts_text(const Checkpoint& c) {
  QStringList parts;
  for (const auto& [name, ms] : c.downtime_parts)
    parts << QStringLiteral("%1 %2 ms").arg(QString::fromStdString(name)).arg(ms, 0, 'f', 3);
  return parts.join(QStringLiteral(", "));
}

}  // namespace deja::ui
