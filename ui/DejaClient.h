// Runs the `deja` command line for the browser. Every command runs as a child process
// (QProcess, asynchronous): the UI thread never waits on the store, the catalog or a revive.
#pragma once

#include <QByteArray>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QStringList>
#include <functional>

namespace deja::ui {

/// What one `deja` run produced: its stdout on success, else the one-line message it printed
/// on stderr (or, when it printed none, what went wrong in starting or running it).
struct CommandResult {
  bool ok = false;
  QByteArray output;
  QString error;
};

/// The `deja` program and store the browser works on; starts commands and reports back.
class DejaClient : public QObject {
  Q_OBJECT
 public:
  /// `program` is the deja binary; `store` is passed as --store unless empty (then deja
  /// chooses its default store, as it would on the command line).
  DejaClient(QString program, QString store, QObject* parent = nullptr);
  /// Kills commands still running; their callbacks are not called.
  ~DejaClient() override;

  /// Runs `deja [--store STORE] ARGS...`; `done` is called once, on this object's thread,
  /// unless `context` has been destroyed by then.
  void run(const QStringList& args, QObject* context,
           std::function<void(const CommandResult&)> done);

  /// Commands still running.
  int running() const { return running_; }

  /// How long a command may take before it is killed and reported as failed.
  static constexpr int kTimeoutMs = 120000;

 private:
  QString program_;
  QString store_;
  int running_ = 0;
};

}  // namespace deja::ui
