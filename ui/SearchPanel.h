// Search for on-screen text with `deja search QUERY --json`; a hit jumps to its moment.
#pragma once

#include <QWidget>
#include <vector>

class QCheckBox;
class QLineEdit;
class QListWidget;
class QListWidgetItem;

namespace deja::ui {

class DejaClient;

/// A query box, a switch to search the chosen session only (`--session`), and the list of
/// hits, best first. Choosing a hit emits hit_chosen.
class SearchPanel : public QWidget {
  Q_OBJECT
 public:
  explicit SearchPanel(DejaClient& client, QWidget* parent = nullptr);

  /// Runs the search for `query` (what pressing Enter in the box does).
  void search(const QString& query);
  /// The session "Only the chosen session" restricts the search to (empty: none chosen).
  void set_session(const QString& session);
  /// Puts the keyboard in the query box (Ctrl+F in the window).
  void focus_query();
  QListWidget* hits() const { return hits_; }
  /// The times (seconds since its start) of the hits listed in `session`.
  std::vector<double> hit_times(const QString& session) const;
  QCheckBox* only_chosen() const { return only_chosen_; }

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
  QCheckBox* only_chosen_;
  QListWidget* hits_;
  QString session_;
  quint64 generation_ = 0;  // replies to superseded searches are dropped
};

}  // namespace deja::ui
