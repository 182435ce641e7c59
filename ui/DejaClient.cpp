#include "ui/DejaClient.h"

#include <QProcess>
#include <QTimer>
#include <memory>

namespace deja::ui {

namespace {

// deja's contract is one clear line on stderr; keep the last non-empty one in case a helper
// printed something before it.
QString last_line(const QByteArray& stderr_text) {
  const QList<QByteArray> lines = stderr_text.split('\n');
  for (auto it = lines.rbegin(); it != lines.rend(); ++it)
    if (!it->trimmed().isEmpty()) return QString::fromUtf8(it->trimmed());
  return {};
}

}  // namespace

DejaClient::DejaClient(QString program, QString store, QObject* parent)
    : QObject(parent), program_(std::move(program)), store_(std::move(store)) {}

DejaClient::~DejaClient() {
  // Disconnect first: ~QProcess would otherwise report into this half-destroyed object.
  for (QProcess* p : findChildren<QProcess*>()) {
    p->disconnect();
    p->kill();
    p->waitForFinished(1000);
  }
}

void DejaClient::run(const QStringList& args, QObject* context,
                     std::function<void(const CommandResult&)> done) {
  QStringList argv;
  if (!store_.isEmpty()) argv << QStringLiteral("--store") << store_;
  argv << args;
  const QString what = QStringLiteral("deja ") + args.join(QLatin1Char(' '));

  auto* process = new QProcess(this);
  auto* timer = new QTimer(process);
  ++running_;
  // Several signals can end a run (finished, a start failure, the timeout); only the first
  // reports, and the process is deleted later because we may be inside its own signal.
  auto reported = std::make_shared<bool>(false);
  QPointer<QObject> guard(context);
  auto finish = [this, process, reported, guard, done](CommandResult r) {
    if (*reported) return;
    *reported = true;
    --running_;
    process->disconnect();
    process->deleteLater();
    if (guard) done(r);
  };

  connect(process, &QProcess::finished, this,
          [process, what, finish](int code, QProcess::ExitStatus status) {
            CommandResult r;
            QByteArray err = process->readAllStandardError();
            r.output = process->readAllStandardOutput();
            r.ok = status == QProcess::NormalExit && code == 0;
            if (!r.ok) {
              r.error = last_line(err);
              if (r.error.isEmpty())
                r.error = status == QProcess::NormalExit
                              ? QStringLiteral("%1 exited with status %2").arg(what).arg(code)
                              : QStringLiteral("%1 crashed").arg(what);
            }
            finish(r);
          });
  connect(process, &QProcess::errorOccurred, this,
          [process, what, finish](QProcess::ProcessError e) {
            // Other errors are followed by finished(), which reports them with stderr.
            if (e != QProcess::FailedToStart) return;
            finish({false,
                    {},
                    QStringLiteral("cannot run %1 (%2): %3")
                        .arg(what, process->program(), process->errorString())});
          });
  timer->setSingleShot(true);
  connect(timer, &QTimer::timeout, this, [process, what, finish] {
    process->kill();
    finish({false,
            {},
            QStringLiteral("%1 did not finish within %2 s and was stopped")
                .arg(what)
                .arg(kTimeoutMs / 1000)});
  });
  timer->start(kTimeoutMs);
  process->start(program_, argv);
}

}  // namespace deja::ui
