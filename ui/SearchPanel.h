// Search for on-screen text with `deja search QUERY --json`; a hit jumps to its moment.
#pragma once

#include <QWidget>

class QLineEdit;
class QListWidget;
class QListWidgetItem;

namespace deja::ui {

class DejaClient;

/// A query box and the list of hits, best first. Choosing a hit emits hit_chosen.
class SearchPanel : public QWidget {
  Q_OBJECT
 public:
  explicit SearchPanel(DejaClient& client, QWidget* parent = nullptr);

  /// Runs the search for `query` (what pressing Enter in the box does).
  void search(const QString& query);
  QListWidget* hits() const { return hits_; }

 signals:
  void hit_chosen(const QString& session, double t);
  /// The search failed; its one-line message.
  void error(const QString& message);
  /// A search completed, with `count` hits (0 also when it failed).
  void searched(int count);

 private:
  void choose(QListWidgetItem* item);

  DejaClient& client_;
  QLineEdit* query_;
  QListWidget* hits_;
  quint64 generation_ = 0;  // replies to superseded searches are dropped
};

}  // namespace deja::ui
