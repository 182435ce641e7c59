#include "ui/BrowserWindow.h"

#include <QDateTime>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QtConcurrent/QtConcurrentRun>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QShortcut>
#include <QSplitter>
#include <QStatusBar>
#include <QTableView>
#include <QTreeView>
#include <QVBoxLayout>

#include "ui/Activity.h"
#include "ui/CatalogLoader.h"
#include "ui/CheckpointDetails.h"
#include "ui/CheckpointModel.h"
#include "ui/DejaClient.h"
#include "ui/FrameSource.h"
#include "ui/FrameView.h"
#include "ui/PlaybackBar.h"
#include "ui/SearchPanel.h"
#include "ui/SessionTreeModel.h"
#include "ui/ThumbnailStrip.h"
#include "ui/TimelineWidget.h"

namespace deja::ui {

namespace {

double now_unix() {
  return QDateTime::currentMSecsSinceEpoch() / 1000.0;
}
constexpr int kErrorShownMs = 15000;
}  // namespace

BrowserWindow::BrowserWindow(const QString& deja_program, const QString& store, QWidget* parent)
    : QMainWindow(parent), store_(store) {
  setWindowTitle(store.isEmpty() ? tr("Deja") : tr("Deja — %1").arg(store));
  client_ = new DejaClient(deja_program, store, this);
  loader_ = new CatalogLoader(*client_, timeline_, this);
  sessions_ = new SessionTreeModel(timeline_, this);
  checkpoints_ = new CheckpointModel(timeline_, this);
  lay_out();
  wire();
  refresh_.setInterval(kRefreshMs);
  connect(&refresh_, &QTimer::timeout, loader_, &CatalogLoader::refresh);
  refresh_.start();
  live_.setInterval(kLiveMs);
  connect(&live_, &QTimer::timeout, this, &BrowserWindow::follow_live);
  live_.start();
  session_selected();
  loader_->refresh();
}

void BrowserWindow::lay_out() {
  tree_ = new QTreeView;
  tree_->setModel(sessions_);
  tree_->setSelectionMode(QAbstractItemView::SingleSelection);
  tree_->setUniformRowHeights(true);
  tree_->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
  search_ = new SearchPanel(*client_);
  auto* left = new QSplitter(Qt::Vertical);
  left->addWidget(tree_);
  left->addWidget(search_);
  left->setStretchFactor(0, 3);
  left->setStretchFactor(1, 2);

  heading_ = new QLabel;
  heading_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  revive_ = new QPushButton(tr("Revive this checkpoint"));
  revive_->setToolTip(
      tr("Start a new branch from the checkpoint at the cursor "
         "(deja revive SESSION:CRID --detach)"));
  refresh_button_ = new QPushButton(tr("Refresh"));
  refresh_button_->setShortcut(QKeySequence::Refresh);
  stop_ = new QPushButton(tr("Stop session"));
  stop_->setToolTip(
      tr("End the chosen session's processes and recording; its checkpoints "
         "stay (deja stop SESSION)"));
  auto* bar = new QHBoxLayout;
  bar->addWidget(heading_, 1);
  bar->addWidget(refresh_button_);
  bar->addWidget(stop_);
  bar->addWidget(revive_);

  scrubber_ = new TimelineWidget(*checkpoints_);
  frames_ = new ProcessFrames(*client_, this);
  thumbnails_ = new ThumbnailStrip(*frames_);
  playback_ = new PlaybackBar;
  frame_ = new FrameView(*frames_);
  screens_ = new QSplitter(Qt::Horizontal);
  screens_->addWidget(frame_);
  details_ = new CheckpointDetails;
  table_ = new QTableView;
  table_->setModel(checkpoints_);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->verticalHeader()->hide();
  table_->setWordWrap(false);
  table_->horizontalHeader()->setStretchLastSection(true);

  auto* lower = new QSplitter(Qt::Horizontal);
  lower->addWidget(details_);
  lower->addWidget(table_);
  auto* right_split = new QSplitter(Qt::Vertical);
  right_split->addWidget(screens_);
  right_split->addWidget(lower);
  right_split->setStretchFactor(0, 3);
  right_split->setStretchFactor(1, 2);
  auto* right = new QWidget;
  auto* right_layout = new QVBoxLayout(right);
  right_layout->addLayout(bar);
  right_layout->addWidget(scrubber_);
  right_layout->addWidget(thumbnails_);
  right_layout->addWidget(playback_);
  right_layout->addWidget(right_split, 1);

  auto* main_split = new QSplitter(Qt::Horizontal);
  main_split->addWidget(left);
  main_split->addWidget(right);
  main_split->setStretchFactor(1, 1);
  setCentralWidget(main_split);
  resize(1280, 800);
  main_split->setSizes({420, 860});
  lower->setSizes({380, 480});
}

void BrowserWindow::wire() {
  connect(loader_, &CatalogLoader::error, this, &BrowserWindow::show_error);
  connect(loader_, &CatalogLoader::refreshed, this, &BrowserWindow::after_refresh);
  connect(frame_, &FrameView::error, this, [this](const QString& message) {
    frame_error_ = message;
    if (!outcome_.isEmpty() && statusBar()->currentMessage() == outcome_) return;
    show_error(message);
  });
  // A frame that arrives answers an earlier "no frame" message still in the status bar.
  connect(frame_, &FrameView::updated, this, [this] {
    if (frame_->has_frame() && statusBar()->currentMessage() == frame_error_)
      statusBar()->clearMessage();
  });
  connect(search_, &SearchPanel::error, this, &BrowserWindow::show_error);
  connect(search_, &SearchPanel::hit_chosen, this, &BrowserWindow::go_to);
  connect(search_, &SearchPanel::searched, this, &BrowserWindow::show_search_marks);
  connect(loader_, &CatalogLoader::refreshed, this, &BrowserWindow::load_activity);
  connect(scrubber_, &TimelineWidget::time_scrubbed, this, &BrowserWindow::scrubbed);
  connect(playback_, &PlaybackBar::moved, this, &BrowserWindow::played);
  connect(scrubber_, &TimelineWidget::view_changed, this, [this](double from, double to) {
    thumbnails_->show_range(checkpoints_->session(), from, to);
  });
  connect(revive_, &QPushButton::clicked, this, &BrowserWindow::revive);
  connect(refresh_button_, &QPushButton::clicked, loader_, &CatalogLoader::refresh);
  connect(stop_, &QPushButton::clicked, this, &BrowserWindow::stop);
  auto* find = new QShortcut(QKeySequence::Find, this);
  connect(find, &QShortcut::activated, search_, &SearchPanel::focus_query);
  connect(tree_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          &BrowserWindow::session_selected);
  connect(tree_, &QTreeView::doubleClicked, this, &BrowserWindow::go_to_branch_point);
  // A reset (new sessions or branches) forgets selection and expansion; restore both.
  connect(sessions_, &QAbstractItemModel::modelReset, this, [this] {
    tree_->expandAll();
    QString wanted = checkpoints_->session();
    if (!wanted.isEmpty()) tree_->setCurrentIndex(sessions_->index_of_session(wanted));
  });
  // A session's state changes in place (it stopped): its heading and Stop button follow.
  connect(sessions_, &QAbstractItemModel::dataChanged, this, [this] {
    update_heading();
    update_buttons();
  });
  // New or reloaded checkpoints can change which one is at the cursor (or make one exist).
  connect(checkpoints_, &QAbstractItemModel::rowsInserted, this,
          &BrowserWindow::checkpoints_arrived);
  connect(checkpoints_, &QAbstractItemModel::modelReset, this, &BrowserWindow::checkpoints_arrived);
  // Columns fit their contents when rows arrive (a header-driven fit is sized while the
  // table is still empty and not redone), and the user can still drag them.
  connect(checkpoints_, &QAbstractItemModel::modelReset, table_,
          &QTableView::resizeColumnsToContents);
  connect(checkpoints_, &QAbstractItemModel::rowsInserted, table_,
          &QTableView::resizeColumnsToContents);
  connect(table_, &QTableView::clicked, this, [this](const QModelIndex& i) {
    scrubbed(i.data(CheckpointModel::kSecondsRole).toDouble());
  });
}

BrowserWindow::~BrowserWindow() {
  // The models observe timeline_, a member destroyed before QObject deletes children.
  delete checkpoints_;
  delete sessions_;
}

void BrowserWindow::set_frame_source(FrameSource* source) {
  source->setParent(this);
  frame_->set_source(*source);
  thumbnails_->set_source(*source);
  delete frames_;
  frames_ = source;
}

QString BrowserWindow::current_session() const {
  return checkpoints_->session();
}

QString BrowserWindow::status_text() const {
  return statusBar()->currentMessage();
}

void BrowserWindow::show_error(const QString& message) {
  statusBar()->showMessage(message, kErrorShownMs);
}

void BrowserWindow::show_outcome(const QString& message) {
  outcome_ = message;
  statusBar()->showMessage(message, kErrorShownMs);
}

void BrowserWindow::after_refresh() {
  if (!select_after_refresh_.isEmpty()) {
    QModelIndex i = sessions_->index_of_session(select_after_refresh_);
    if (i.isValid()) {
      select_after_refresh_.clear();
      tree_->setCurrentIndex(i);
      return;
    }
  }
  // First load: start on the first session so the window is never empty without reason.
  if (checkpoints_->session().isEmpty() && sessions_->rowCount() > 0)
    tree_->setCurrentIndex(sessions_->index(0, 0));
}

void BrowserWindow::session_selected() {
  QModelIndex current = tree_->currentIndex();
  QString id = current.data(SessionTreeModel::kSessionIdRole).toString();
  if (id == checkpoints_->session() && !id.isEmpty()) return;  // same session re-selected
  // Another session starts at its end. Set before the model resets: the reset places the
  // cursor (checkpoints_arrived), and the previous session's cursor would stretch this one's
  // axis to its seconds (a branch just revived from seconds into its parent).
  following_ = true;
  checkpoints_->set_session(id);
  search_->set_session(id);
  playback_->set_frame_times({});  // the previous session's
  activity_of_.clear();             // the widget forgets its plot with another session
  if (id.isEmpty()) {
    heading_->setText(tr("No session chosen."));
    frame_->show_message(tr("Choose a session to see its screen."));
    details_->show_checkpoint({}, nullptr, tr("No session chosen."));
    update_buttons();
    return;
  }
  frame_->show_message({});  // not the previous session's frame while this one's loads
  set_cursor(session_end());
  load_activity();
  show_search_marks();
}

void BrowserWindow::show_search_marks() {
  scrubber_->set_marks(search_->hit_times(checkpoints_->session()));
}

void BrowserWindow::load_activity() {
  size_t s = checkpoints_->session_index();
  // deja ui always names its store; without one (or a catalog in it: a scripted deja in
  // tests) there is no activity to plot, which is no error.
  const QString catalog = store_ + QStringLiteral("/catalog.db");
  if (s == Timeline::npos || store_.isEmpty() || activity_loading_ || !QFileInfo::exists(catalog))
    return;
  const QString session = QString::fromStdString(timeline_.session(s).id);
  // A session that ended has all its frames and gaps read already; a paused or unrecorded
  // one has a gap that is still growing.
  const std::string& state = timeline_.session(s).state;
  const bool live = (state == "recording" || state == "paused" || state == "unrecorded") &&
                    !timeline_.session(s).stopped_unix;
  if (session == activity_of_ && !live) return;
  activity_loading_ = true;
  const double started = timeline_.session(s).started_unix;
  struct Read {
    std::vector<double> frames;
    std::vector<RecordingGap> gaps;
    QString error;  // why not
  };
  auto* watcher = new QFutureWatcher<Read>(this);
  connect(watcher, &QFutureWatcher<Read>::finished, this, [this, watcher, session] {
    watcher->deleteLater();
    activity_loading_ = false;
    if (session != checkpoints_->session()) return load_activity();  // chosen meanwhile
    const Read read = watcher->result();
    if (!read.error.isEmpty())
      return show_error(tr("cannot read screen activity: %1").arg(read.error));
    activity_of_ = session;
    scrubber_->set_activity(per_second(read.frames));
    scrubber_->set_gaps(read.gaps);
    playback_->set_frame_times(read.frames);
  });
  FrameTimesReader read = read_frame_times_;
  if (!read)
    read = [catalog = catalog.toStdString()](const std::string& id, double started) {
      return recorded_frame_times(catalog, id, started);
    };
  watcher->setFuture(QtConcurrent::run(
      [read, catalog = catalog.toStdString(), id = session.toStdString(), started]() -> Read {
        try {
          return {read(id, started), recording_gaps(catalog, id, started), {}};
        } catch (const std::exception& e) {
          return {{}, {}, QString::fromUtf8(e.what())};
        }
      }));
}

double BrowserWindow::session_end() const {
  size_t s = checkpoints_->session_index();
  if (s == Timeline::npos) return 0;
  const double reach = timeline_.reach(s, now_unix());
  const bool live = timeline_.session(s).state == "recording" && !timeline_.session(s).stopped_unix;
  return live ? std::max(timeline_.extent(s), reach - kLiveLagSeconds) : reach;
}

void BrowserWindow::follow_live() {
  size_t s = checkpoints_->session_index();
  if (s == Timeline::npos) return;
  scrubber_->set_session_span(timeline_.reach(s, now_unix()));
  if (following_ && timeline_.session(s).state == "recording") set_cursor(session_end());
}

void BrowserWindow::scrubbed(double t) {
  size_t s = checkpoints_->session_index();
  following_ = s != Timeline::npos && t >= session_end() - 0.05;
  set_cursor(t);
}

void BrowserWindow::played(double t) {
  following_ = false;
  set_cursor(t, true);
}

void BrowserWindow::checkpoints_arrived() {
  size_t s = checkpoints_->session_index();
  if (s == Timeline::npos) return;
  set_cursor(following_ ? session_end() : cursor_);
}

void BrowserWindow::set_cursor(double t, bool at_once) {
  cursor_ = t;
  size_t s = checkpoints_->session_index();
  playback_->set_position(t, s == Timeline::npos ? 0.0 : session_end());
  if (s != Timeline::npos)
    scrubber_->set_session_span(timeline_.reach(s, now_unix()));
  scrubber_->set_time(t);
  if (s == Timeline::npos) return;
  const QString id = checkpoints_->session();
  update_heading();
  size_t at = timeline_.checkpoint_at_or_before(s, t);
  if (at == Timeline::npos) {
    details_->show_checkpoint(id, nullptr,
                              timeline_.checkpoints(s).empty()
                                  ? tr("This session has no checkpoints yet.")
                                  : tr("No checkpoint at or before %1 s.").arg(t, 0, 'f', 3));
    table_->clearSelection();
  } else {
    const Checkpoint& c = timeline_.checkpoints(s)[at];
    QStringList branches = checkpoints_->index(static_cast<int>(at), 0)
                               .data(CheckpointModel::kBranchesRole)
                               .toStringList();
    details_->show_checkpoint(id, &c, {}, branches);
    table_->selectRow(static_cast<int>(at));
  }
  update_buttons();
  frame_->show_time(id, t, at_once);
}

void BrowserWindow::update_heading() {
  size_t s = checkpoints_->session_index();
  if (s == Timeline::npos) return;
  const SessionInfo& info = timeline_.session(s);
  QString heading =
      tr("<b>%1</b> (%2, %3) at %4 s")
          .arg(QString::fromStdString(info.id), QString::fromStdString(info.name).toHtmlEscaped(),
               QString::fromStdString(info.state))
          .arg(cursor_, 0, 'f', 3);
  if (info.parent)
    heading += tr(" — a branch of %1 from CRID %2")
                   .arg(QString::fromStdString(*info.parent))
                   .arg(*info.parent_crid);
  heading_->setText(heading);
}

void BrowserWindow::update_buttons() {
  size_t s = checkpoints_->session_index();
  revive_->setEnabled(!reviving_ && s != Timeline::npos &&
                      timeline_.checkpoint_at_or_before(s, cursor_) != Timeline::npos);
  stop_->setEnabled(!stopping_ && s != Timeline::npos && timeline_.session(s).state == "recording");
}

void BrowserWindow::stop() {
  const QString id = checkpoints_->session();
  if (id.isEmpty()) return;
  stopping_ = true;
  update_buttons();
  statusBar()->showMessage(tr("Stopping %1…").arg(id));
  client_->run({QStringLiteral("stop"), id}, this, [this, id](const CommandResult& r) {
    stopping_ = false;
    show_outcome(r.ok ? tr("Stopped %1").arg(id) : r.error);
    update_buttons();
    loader_->refresh();  // its state changes to stopped
  });
}

bool BrowserWindow::go_to(const QString& session, double t) {
  QModelIndex i = sessions_->index_of_session(session);
  if (!i.isValid()) {
    show_error(tr("session %1 is not in the list (yet); try Refresh").arg(session));
    return false;
  }
  tree_->setCurrentIndex(i);
  following_ = false;
  set_cursor(t);
  return true;
}

void BrowserWindow::go_to_branch_point(const QModelIndex& index) {
  // Double-clicking a branch shows where it came from: its parent at the checkpoint revived.
  size_t b =
      timeline_.find_session(index.data(SessionTreeModel::kSessionIdRole).toString().toStdString());
  if (b == Timeline::npos || timeline_.parent_of(b) == Timeline::npos) return;
  size_t parent = timeline_.parent_of(b);
  const uint64_t crid = *timeline_.session(b).parent_crid;
  for (const Checkpoint& c : timeline_.checkpoints(parent))
    if (c.crid == crid) {
      go_to(QString::fromStdString(timeline_.session(parent).id), c.t);
      return;
    }
  show_error(tr("checkpoint %1 of %2 is not listed (not loaded yet, or removed)")
                 .arg(crid)
                 .arg(QString::fromStdString(timeline_.session(parent).id)));
}

void BrowserWindow::revive() {
  size_t s = checkpoints_->session_index();
  if (s == Timeline::npos) return;
  size_t at = timeline_.checkpoint_at_or_before(s, cursor_);
  if (at == Timeline::npos) return;
  const QString ref = QStringLiteral("%1:%2")
                          .arg(QString::fromStdString(timeline_.session(s).id))
                          .arg(timeline_.checkpoints(s)[at].crid);
  reviving_ = true;
  revive_->setEnabled(false);
  statusBar()->showMessage(tr("Reviving %1…").arg(ref));
  client_->run({QStringLiteral("revive"), ref, QStringLiteral("--detach")}, this,
               [this, ref](const CommandResult& r) {
                 reviving_ = false;
                 update_buttons();
                 QString id = QString::fromUtf8(r.output).trimmed();
                 if (!r.ok || id.isEmpty()) {
                   show_outcome(r.ok ? tr("deja revive %1 printed no session id").arg(ref)
                                     : r.error);
                   emit revived({});
                   return;
                 }
                 show_outcome(tr("Revived %1 as session %2").arg(ref, id));
                 select_after_refresh_ = id;
                 loader_->refresh();
                 open_live_view(id, kLiveViewWaitMs / 500);
                 emit revived(id);
               });
}

void BrowserWindow::open_live_view(const QString& session, int tries_left) {
  if (!make_live_view_) return;
  QString error;
  QWidget* view = make_live_view_(session, &error);
  if (!view) {
    // The branch's X server may still be coming up in the revived session.
    if (tries_left > 0)
      QTimer::singleShot(500, this, [this, session, tries_left] {
        open_live_view(session, tries_left - 1);
      });
    else
      show_error(tr("cannot show branch %1 live: %2").arg(session, error));
    return;
  }
  delete live_view_;  // the previous branch's view: one live view at a time
  live_view_ = view;
  live_session_ = session;
  view->setToolTip(tr("Branch %1, live: keyboard and mouse go into it").arg(session));
  screens_->addWidget(view);
  screens_->setSizes({screens_->width() / 2, screens_->width() / 2});
  view->setFocus();
}

}  // namespace deja::ui
