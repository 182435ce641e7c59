// deja-ui: the Qt browser over a Deja store. `deja ui` starts it with the store it uses.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QSocketNotifier>

#include "ui/BrowserWindow.h"

namespace {

int signal_pipe[2] = {-1, -1};

void on_stop_signal(int) {
  char byte = 1;
  // Only async-signal-safe work here: wake the event loop, which quits.
  if (::write(signal_pipe[1], &byte, 1) < 0) {
  }
}

// Ctrl+C or SIGTERM end the event loop, so destructors run: running deja commands are
// stopped and the folder of fetched frames is removed, as when the window is closed.
void quit_on_stop_signals(QApplication& app) {
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, signal_pipe) != 0) return;
  auto* notifier = new QSocketNotifier(signal_pipe[0], QSocketNotifier::Read, &app);
  QObject::connect(notifier, &QSocketNotifier::activated, &app, &QApplication::quit);
  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("deja-ui"));
  QCommandLineParser parser;
  parser.setApplicationDescription(
      QStringLiteral("Browse the sessions, branches and checkpoints of a Deja store."));
  parser.addHelpOption();
  QCommandLineOption store(QStringLiteral("store"),
                           QStringLiteral("The store folder (default: what deja chooses)."),
                           QStringLiteral("DIR"));
  QCommandLineOption deja(QStringLiteral("deja"),
                          QStringLiteral("The deja program (default: the one beside deja-ui)."),
                          QStringLiteral("PATH"));
  parser.addOption(store);
  parser.addOption(deja);
  parser.process(app);
  quit_on_stop_signals(app);

  // deja and deja-ui are built and installed into the same folder; fall back to $PATH.
  QString program = parser.value(deja);
  if (program.isEmpty()) {
    QString beside = QDir(QCoreApplication::applicationDirPath()).filePath(QStringLiteral("deja"));
    program = QFileInfo(beside).isExecutable() ? beside : QStringLiteral("deja");
  }
  deja::ui::BrowserWindow window(program, parser.value(store));
  window.show();
  return app.exec();
}
