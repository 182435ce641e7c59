// A stand-in for the deja binary, for window tests that need commands the real binary may
// not have yet (frame, search, revive) or failures on demand. It is a shell script that
// answers from files the test writes into its store folder, and logs each call.
#pragma once

#include <QByteArray>
#include <QList>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>

namespace deja::ui::test {

class FakeDeja {
 public:
  FakeDeja();
  bool ready() const { return dir_.isValid(); }
  /// The script to pass as the deja program, and the folder to pass as --store.
  QString program() const;
  QString store() const;

  /// What `deja sessions --json` prints.
  void set_sessions(const QByteArray& json);
  /// What `deja checkpoints ID --json` prints; unset ids fail with "deja: unknown session".
  void set_checkpoints(const QString& id, const QByteArray& json);
  /// What `deja search … --json` prints; unset, search fails as an unknown command.
  void set_search(const QByteArray& json);
  /// The PNG `deja frame` writes; unset, frame fails as an unknown command.
  void set_frame(const QByteArray& png);
  /// Makes `deja revive` print `id` and list `sessions_after` from then on.
  void set_revive(const QString& id, const QByteArray& sessions_after);
  /// Makes `deja stop` succeed and list `sessions_after` from then on; unset, it fails.
  void set_stop(const QByteArray& sessions_after);
  /// Makes every command take `seconds` before answering.
  void set_delay(int seconds);
  /// Every command run so far, one line each, without --store.
  QStringList calls() const;
  /// The commands that waited out their whole delay.
  QStringList waited() const;
  /// The process id of every command run so far.
  QList<qint64> pids() const;

 private:
  QStringList lines(const QString& name) const;
  void write(const QString& name, const QByteArray& data) const;
  QTemporaryDir dir_;
};

}  // namespace deja::ui::test
