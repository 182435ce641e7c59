// A real Deja store for UI tests: a temporary folder with a btrfs loop image made by the
// real deja binary, sessions recorded in it, and cleanup that always runs (the destructor
// stops the sessions it started, unmounts the store and removes the folder).
#pragma once

#include <QString>
#include <QStringList>
#include <QTemporaryDir>

namespace deja::ui::test {

class RealStore {
 public:
  /// Runs `deja init`; check ready() / error() before use.
  RealStore();
  ~RealStore();
  RealStore(const RealStore&) = delete;
  RealStore& operator=(const RealStore&) = delete;

  bool ready() const { return error_.isEmpty(); }
  const QString& error() const { return error_; }
  QString deja() const;
  QString path() const { return dir_.filePath(QStringLiteral("store")); }

  /// `deja --store STORE ARGS...`, waited for (test set-up may block; the UI may not).
  /// Returns stdout trimmed, or a null string with error() set.
  QString run(const QStringList& args);
  /// A detached session running `sleep 600`, without display or automatic checkpoints.
  QString record();
  /// A detached session with its own recorded X display running `command`.
  QString record_display(const QStringList& command);
  /// One checkpoint of `session` now; its CRID, or 0 with error() set.
  quint64 checkpoint(const QString& session);
  /// Stops `session` at cleanup too (one started by other means, e.g. a revive).
  void adopt(const QString& session) { sessions_ << session; }
  /// Whether this deja has COMMAND (it lists it in --help); some arrive from other branches.
  bool has_command(const QString& command);

 private:
  QTemporaryDir dir_;
  QStringList sessions_;
  QString error_;
};

}  // namespace deja::ui::test
