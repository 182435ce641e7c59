// deja-ui: the Qt browser over a Deja store. `deja ui` starts it with the store it uses.
// Ctrl+C or SIGTERM end the event loop, so destructors run: running deja commands are
// stopped and the folder of fetched frames is removed, as when the window is closed.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>

#include "ui/BrowserWindow.h"
#include "ui/StoreFrames.h"
#include "ui/StopSignals.h"

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
  deja::ui::quit_on_stop_signals(app);

  // deja and deja-ui are built and installed into the same folder; fall back to $PATH.
  QString program = parser.value(deja);
  if (program.isEmpty()) {
    QString beside = QDir(QCoreApplication::applicationDirPath()).filePath(QStringLiteral("deja"));
    program = QFileInfo(beside).isExecutable() ? beside : QStringLiteral("deja");
  }
  deja::ui::BrowserWindow window(program, parser.value(store));
  // deja ui always names its store: frames are read from it in process, branches shown live.
  if (const QString dir = parser.value(store); !dir.isEmpty())
    deja::ui::use_store_directly(window, dir);
  window.show();
  return app.exec();
}
