// The Deja browser's main window: it composes the widgets and wires them together; each
// widget does its own work (see TimelineWidget, FrameView, CheckpointDetails, SearchPanel).
#pragma once

#include <QMainWindow>
#include <QPointer>
#include <QTimer>
#include <functional>

#include "ui/Timeline.h"

class QLabel;
class QPushButton;
class QSplitter;
class QTableView;
class QTreeView;

namespace deja::ui {

class CatalogLoader;
class CheckpointDetails;
class CheckpointModel;
class DejaClient;
class FrameSource;
class FrameView;
class PlaybackBar;
class SearchPanel;
class SessionTreeModel;
class ThumbnailStrip;
class TimelineWidget;

/// Sessions and branches on the left with the search below them; on the right the chosen
/// session's timeline, the frame at the cursor, the checkpoint there and a Revive button.
/// Double-clicking a branch in the tree goes to the checkpoint it was revived from.
/// Under the timeline a strip of thumbnails of the part in view, then playback (1x-32x) and frame steps move the cursor. A branch revived
/// here opens in a live view beside the recorded frame (original and branch side by side).
/// Every command's failure is shown as its one-line message in the status bar.
class BrowserWindow : public QMainWindow {
  Q_OBJECT
 public:
  /// `deja_program` is the deja binary; `store` its --store (empty: deja's default).
  BrowserWindow(const QString& deja_program, const QString& store, QWidget* parent = nullptr);
  ~BrowserWindow() override;

  /// How often the catalog is re-read, to follow recording sessions.
  static constexpr int kRefreshMs = 2000;
  /// How often a recording session's axis grows (and a following cursor moves).
  static constexpr int kLiveMs = 1000;
  /// How far behind now the cursor follows a recording session.
  static constexpr double kLiveLagSeconds = 1.0;

  /// Makes the live view of a running session, or returns null with `error` set. The
  /// window shows revived branches live only when it has one (deja-ui gives it LiveView;
  /// deja_ui itself does not depend on the display code).
  using LiveViewFactory = std::function<QWidget*(const QString& session, QString* error)>;
  void set_live_view_factory(LiveViewFactory make) { make_live_view_ = std::move(make); }
  /// Reads recorded frames (the cursor's and the thumbnails') from `source`, which the
  /// window takes; by default each is a `deja frame` process (ProcessFrames). deja-ui gives
  /// it one that reads the store in process (StoreFrames).
  void set_frame_source(FrameSource* source);
  FrameSource* frame_source() const { return frames_; }
  /// Reads the times (seconds since `started`) of a session's recorded frames, for the
  /// activity plot and frame steps; runs in the thread pool and throws on failure. By
  /// default the catalog's frame rows (finished segments); deja-ui adds the segment still
  /// being recorded (LiveFrameTimes).
  using FrameTimesReader =
      std::function<std::vector<double>(const std::string& session, double started)>;
  void set_frame_times_reader(FrameTimesReader read) { read_frame_times_ = std::move(read); }
  /// How long a just revived branch's screen is waited for before giving up.
  static constexpr int kLiveViewWaitMs = 10000;

  /// Chooses a session (selects it in the tree) and puts the cursor at `t` seconds.
  /// Returns false, with a status message, when the session is not listed.
  bool go_to(const QString& session, double t);

  // The parts, for tests.
  const Timeline& timeline() const { return timeline_; }
  QTreeView* session_tree() const { return tree_; }
  TimelineWidget* timeline_widget() const { return scrubber_; }
  FrameView* frame_view() const { return frame_; }
  CheckpointDetails* details() const { return details_; }
  PlaybackBar* playback() const { return playback_; }
  ThumbnailStrip* thumbnails() const { return thumbnails_; }
  /// The live view of the last branch revived here, if open; and that branch's id.
  QWidget* live_view() const { return live_view_; }
  QString live_session() const { return live_session_; }
  SearchPanel* search_panel() const { return search_; }
  QPushButton* revive_button() const { return revive_; }
  QPushButton* stop_button() const { return stop_; }
  CatalogLoader* loader() const { return loader_; }
  QString current_session() const;
  QString status_text() const;

 signals:
  /// A revive finished; `session` is the new branch's id, empty if it failed.
  void revived(const QString& session);

 private:
  void lay_out();  // creates the widgets and arranges them
  void wire();     // connects them to each other and to the loader
  void show_error(const QString& message);
  /// What came of a command the user gave (revive, stop): a frame's error, which every
  /// scrub may bring, does not replace it while it is shown.
  void show_outcome(const QString& message);
  void session_selected();
  void after_refresh();
  // `at_once`: playback and steps fetch the frame without waiting for scrubbing to settle.
  void set_cursor(double t, bool at_once = false);
  void played(double t);
  void scrubbed(double t);
  void checkpoints_arrived();
  // Where the session's time ends now: its end, or a second before now while it records
  // (the newest moment whose frame is surely written).
  double session_end() const;
  // Grows the axis of a recording session and moves a following cursor along with it.
  void follow_live();
  void revive();
  // Shows `session` live beside the recorded frame, retrying while its screen comes up.
  void open_live_view(const QString& session, int tries_left);
  void stop();
  void go_to_branch_point(const QModelIndex& branch);
  // Revive needs a checkpoint at the cursor, Stop a recording session; neither runs twice.
  void update_buttons();
  void update_heading();
  // Re-reads the chosen session's screen activity (and frame times) off the UI thread, one
  // read at a time; a session that stopped recording is read once.
  void load_activity();
  void show_search_marks();

  Timeline timeline_;
  QString store_;
  bool activity_loading_ = false;
  QString activity_of_;  // the session whose activity was read last
  DejaClient* client_;
  CatalogLoader* loader_;
  SessionTreeModel* sessions_;
  CheckpointModel* checkpoints_;

  QTreeView* tree_;
  SearchPanel* search_;
  QLabel* heading_;
  QPushButton* revive_;
  QPushButton* stop_;
  QPushButton* refresh_button_;
  TimelineWidget* scrubber_;
  FrameSource* frames_;
  FrameView* frame_;
  PlaybackBar* playback_;
  ThumbnailStrip* thumbnails_;
  QSplitter* screens_;  // the recorded frame, and a branch's live view beside it
  QPointer<QWidget> live_view_;
  QString live_session_;
  LiveViewFactory make_live_view_;
  FrameTimesReader read_frame_times_;
  CheckpointDetails* details_;
  QTableView* table_;
  QTimer refresh_;
  QTimer live_;  // follow_live, every second
  QString select_after_refresh_;  // a new branch to choose once the tree lists it
  QString frame_error_;           // the last frame failure shown
  QString outcome_;               // the last outcome of a command shown
  double cursor_ = 0;
  // Whether the cursor should stay on the newest checkpoint as new ones arrive: true when a
  // session is chosen or the user scrubs to its end, false once they look at the past.
  bool following_ = true;
  bool reviving_ = false;  // one revive at a time: the button stays off until it answers
  bool stopping_ = false;
};

}  // namespace deja::ui
