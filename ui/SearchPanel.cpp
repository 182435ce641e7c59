#include "ui/SearchPanel.h"

#include <QCheckBox>
#include <QLineEdit>
#include <QListWidget>
#include <QVBoxLayout>

#include "ui/DejaClient.h"
#include "ui/DejaJson.h"

namespace deja::ui {

namespace {
constexpr int kSessionRole = Qt::UserRole + 1;
constexpr int kSecondsRole = Qt::UserRole + 2;
}  // namespace

SearchPanel::SearchPanel(DejaClient& client, QWidget* parent) : QWidget(parent), client_(client) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  query_ = new QLineEdit(this);
  query_->setPlaceholderText(tr("Search on-screen text…"));
  query_->setClearButtonEnabled(true);
  only_chosen_ = new QCheckBox(tr("Only the chosen session"), this);
  only_chosen_->setEnabled(false);
  hits_ = new QListWidget(this);
  hits_->setWordWrap(true);
  layout->addWidget(query_);
  layout->addWidget(only_chosen_);
  layout->addWidget(hits_);
  connect(query_, &QLineEdit::returnPressed, this, [this] { search(query_->text()); });
  connect(hits_, &QListWidget::itemActivated, this, &SearchPanel::choose);
  connect(hits_, &QListWidget::itemClicked, this, &SearchPanel::choose);
}

void SearchPanel::search(const QString& query) {
  const quint64 wanted = ++generation_;
  hits_->clear();
  if (query.trimmed().isEmpty()) return;
  query_->setText(query);
  QStringList args{QStringLiteral("search"), query};
  if (only_chosen_->isChecked() && !session_.isEmpty())
    args << QStringLiteral("--session") << session_;
  args << QStringLiteral("--json");
  client_.run(args, this, [this, wanted](const CommandResult& r) {
    if (wanted != generation_) return;
    auto parsed = r.ok ? parse_search_hits(r.output) : Parsed<std::vector<SearchHit>>{};
    if (!r.ok || !parsed.ok()) {
      emit error(r.ok ? parsed.error : r.error);
      emit searched(0);
      return;
    }
    for (const SearchHit& h : parsed.value) {
      auto* item = new QListWidgetItem(
          tr("%1 @ %2 s: %3").arg(h.session).arg(h.t, 0, 'f', 1).arg(h.text), hits_);
      item->setData(kSessionRole, h.session);
      item->setData(kSecondsRole, h.t);
      item->setToolTip(h.time);
    }
    if (parsed.value.empty()) hits_->addItem(tr("Nothing on screen matched."));
    emit searched(static_cast<int>(parsed.value.size()));
  });
}

void SearchPanel::focus_query() {
  query_->setFocus(Qt::ShortcutFocusReason);
  query_->selectAll();
}

void SearchPanel::set_session(const QString& session) {
  session_ = session;
  only_chosen_->setEnabled(!session.isEmpty());
  only_chosen_->setToolTip(session.isEmpty() ? QString() : tr("Search %1 only").arg(session));
}

void SearchPanel::choose(QListWidgetItem* item) {
  QString session = item->data(kSessionRole).toString();
  if (session.isEmpty()) return;  // the "nothing matched" line
  emit hit_chosen(session, item->data(kSecondsRole).toDouble());
}

std::vector<double> SearchPanel::hit_times(const QString& session) const {
  std::vector<double> out;
  for (int i = 0; i < hits_->count(); ++i) {
    const QListWidgetItem* item = hits_->item(i);
    if (item->data(kSessionRole).toString() == session)
      out.push_back(item->data(kSecondsRole).toDouble());
  }
  return out;
}

}  // namespace deja::ui
