#include "ui/CheckpointDetails.h"

#include <QFormLayout>
#include <QLabel>
#include <QLocale>

#include "ui/CheckpointModel.h"
#include "ui/Timeline.h"

namespace deja::ui {

CheckpointDetails::CheckpointDetails(QWidget* parent) : QWidget(parent) {
  auto* form = new QFormLayout(this);
  form->setContentsMargins(0, 0, 0, 0);
  auto add = [&](const QString& label) {
    auto* value = new QLabel(this);
    value->setTextInteractionFlags(Qt::TextSelectableByMouse);
    value->setWordWrap(true);  // long part lists wrap rather than squeeze the table beside
    form->addRow(label, value);
    return value;
  };
  reference_ = add(tr("Checkpoint (SESSION:CRID)"));
  time_ = add(tr("Taken at"));
  fsid_ = add(tr("FSID (btrfs snapshot)"));
  downtime_ = add(tr("Downtime"));
  parts_ = add(tr("Downtime parts"));
  size_ = add(tr("Image"));
  branches_ = add(tr("Revived as"));
  show_checkpoint({}, nullptr, tr("No session chosen."));
}

void CheckpointDetails::show_checkpoint(const QString& session, const Checkpoint* c,
                                        const QString& why, const QStringList& branches) {
  if (!c) {
    reference_->setText(why);
    for (QLabel* l : {time_, fsid_, downtime_, parts_, size_, branches_}) l->clear();
    return;
  }
  reference_->setText(QStringLiteral("%1:%2").arg(session).arg(c->crid));
  time_->setText(
      tr("%1 s into the session (%2)").arg(c->t, 0, 'f', 3).arg(QString::fromStdString(c->time)));
  fsid_->setText(QString::number(c->fsid));
  downtime_->setText(tr("%1 ms").arg(c->downtime_ms, 0, 'f', 3));
  parts_->setText(downtime_parts_text(*c));
  size_->setText(tr("%1, %2 pages written")
                     .arg(QLocale().formattedDataSize(c->image_bytes))
                     .arg(c->pages_written));
  branches_->setText(branches.isEmpty() ? tr("no branch yet")
                                        : branches.join(QStringLiteral(", ")));
}

QString CheckpointDetails::reference() const {
  return reference_->text();
}

QString CheckpointDetails::branches() const {
  return branches_->text();
}

}  // namespace deja::ui
