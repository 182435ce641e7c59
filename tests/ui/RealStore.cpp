#include "RealStore.h"

#include <fcntl.h>

#include <QDir>
#include <QFile>
#include <QProcess>

namespace deja::ui::test {

namespace {

// Whether `path` is a mount point, from the kernel's own list (paths there are real paths).
bool is_mount_point(const QString& path) {
  QFile f(QStringLiteral("/proc/self/mountinfo"));
  if (!f.open(QIODevice::ReadOnly)) return false;
  const QString real = QDir(path).canonicalPath();
  if (real.isEmpty()) return false;
  for (const QByteArray& line : f.readAll().split('\n')) {
    const QList<QByteArray> fields = line.split(' ');
    if (fields.size() > 4 && QString::fromUtf8(fields[4]) == real) return true;
  }
  return false;
}

// A test runner hands its own files to the test (ctest: its log, as fd 3); sessions recorded
// from here would inherit them and a revive then fails to reopen them. Nothing of this
// process but stdio is meant for the programs it starts.
void keep_inherited_fds_from_children() {
  QDir fds(QStringLiteral("/proc/self/fd"));
  for (const QString& name : fds.entryList(QDir::Files | QDir::System | QDir::NoDotAndDotDot)) {
    bool ok = false;
    int fd = name.toInt(&ok);
    if (!ok || fd <= 2) continue;
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
}

}  // namespace

RealStore::RealStore() {
  keep_inherited_fds_from_children();
  if (!dir_.isValid()) {
    error_ = QStringLiteral("no temporary folder: ") + dir_.errorString();
    return;
  }
  run({QStringLiteral("init"), QStringLiteral("--size"), QStringLiteral("1G")});
}

RealStore::~RealStore() {
  for (const QString& id : sessions_) run({QStringLiteral("stop"), id});
  const QString fs = path() + QStringLiteral("/fs");
  if (is_mount_point(fs)) QProcess::execute(QStringLiteral("umount"), {fs});
  // QTemporaryDir removes the folder; with the file system unmounted it holds plain files.
}

QString RealStore::deja() const {
  return QStringLiteral(DEJA_BIN);
}

QString RealStore::run(const QStringList& args) {
  QProcess p;
  p.start(deja(), QStringList{QStringLiteral("--store"), path()} + args);
  if (!p.waitForFinished(120000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
    p.kill();
    p.waitForFinished();
    error_ = QStringLiteral("deja %1 failed: %2")
                 .arg(args.join(QLatin1Char(' ')),
                      QString::fromUtf8(p.readAllStandardError()).trimmed());
    return {};
  }
  return QString::fromUtf8(p.readAllStandardOutput()).trimmed();
}

QString RealStore::record() {
  QString id = run({QStringLiteral("record"), QStringLiteral("--no-display"),
                    QStringLiteral("--detach"), QStringLiteral("--interval"), QStringLiteral("0"),
                    QStringLiteral("--"), QStringLiteral("sleep"), QStringLiteral("600")});
  if (!id.isEmpty()) sessions_ << id;
  return id;
}

QString RealStore::record_display(const QStringList& command) {
  QString id =
      run(QStringList{QStringLiteral("record"), QStringLiteral("--detach"),
                      QStringLiteral("--interval"), QStringLiteral("0"), QStringLiteral("--")} +
          command);
  if (!id.isEmpty()) sessions_ << id;
  return id;
}

quint64 RealStore::checkpoint(const QString& session) {
  return run({QStringLiteral("checkpoint"), session}).toULongLong();
}

}  // namespace deja::ui::test
