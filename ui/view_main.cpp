// deja-view: a live window on a running session's screen, with keyboard and mouse sent
// into it. `deja view SESSION` checks the session and starts it with the session's paths.
#include <QApplication>
#include <QCommandLineParser>
#include <QGuiApplication>
#include <QScreen>
#include <cstdio>
#include <optional>

#include "ui/LiveView.h"
#include "ui/StopSignals.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("deja-view"));
  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("Live view of a running Deja session."));
  parser.addHelpOption();
  QCommandLineOption framebuffer(QStringLiteral("framebuffer"),
                                 QStringLiteral("The session's Xvfb_screen0 file."),
                                 QStringLiteral("FILE"));
  QCommandLineOption socket(QStringLiteral("x-socket"),
                            QStringLiteral("The session's X server socket."),
                            QStringLiteral("PATH"));
  QCommandLineOption session(QStringLiteral("session"), QStringLiteral("The session id."),
                             QStringLiteral("ID"));
  parser.addOptions({framebuffer, socket, session});
  parser.process(app);
  if (!parser.isSet(framebuffer) || !parser.isSet(socket)) {
    std::fprintf(stderr, "deja-view: --framebuffer and --x-socket are required (use deja view)\n");
    return 2;
  }
  deja::ui::quit_on_stop_signals(app);
  const QString id = parser.value(session);
  std::optional<deja::ui::LiveView> view;
  try {
    view.emplace(parser.value(framebuffer), parser.value(socket));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "deja: cannot view session %s: %s\n", qPrintable(id), e.what());
    return 1;
  }
  view->setWindowTitle(QStringLiteral("deja view %1").arg(id));
  QObject::connect(&*view, &deja::ui::LiveView::ended, [&] {
    view->setWindowTitle(QStringLiteral("deja view %1 (ended)").arg(id));
    std::fprintf(stderr, "deja: session %s ended; the viewer shows its last screen\n",
                 qPrintable(id));
  });
  // The session's size at 1:1 when it fits, else as much of the desktop as it may take.
  QSize size = view->screen_size();
  if (QScreen* s = QGuiApplication::primaryScreen()) {
    const QSize room = s->availableSize() * 0.95;
    if (size.width() > room.width() || size.height() > room.height())
      size = size.scaled(room, Qt::KeepAspectRatio);
  }
  view->resize(size);
  view->show();
  return app.exec();
}
