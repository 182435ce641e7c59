// Clipboard text both ways between a real session's X server and the viewer's own X
// server: the live view (as deja view and deja ui show it) runs on an Xvfb of its own with
// Qt's X platform, and xclip sets and reads the CLIPBOARD selection on each side (inside the
// session through `deja exec`). Needs root (else skipped), Xvfb and xclip.
#include <unistd.h>

#include <QDir>
#include <QProcess>
#include <QStandardPaths>
#include <QTest>
#include <memory>

#include "RealStore.h"
#include "ui/LiveView.h"

using namespace deja::ui;
using deja::ui::test::RealStore;

namespace {

constexpr int kWaitMs = 60000;

// The viewer's display, started before QApplication so Qt's X platform connects to it.
QString g_display;

// Runs a program to its end while the event loop goes on (the live view answers the
// selection requests the program makes); its stdout, or a null string when it failed.
QString run(const QString& program, const QStringList& args) {
  QProcess p;
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
  env.insert("DISPLAY", g_display);
  p.setProcessEnvironment(env);
  p.start(program, args);
  if (!p.waitForStarted()) return {};
  for (int waited = 0; p.state() != QProcess::NotRunning && waited < kWaitMs; waited += 20)
    QTest::qWait(20);
  if (p.state() != QProcess::NotRunning) {
    p.kill();
    p.waitForFinished();
    return {};
  }
  if (p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) return {};
  return QString::fromUtf8(p.readAllStandardOutput());
}

}  // namespace

class ClipboardTest : public QObject {
  Q_OBJECT
 private slots:
  void text_goes_both_ways() {
    RealStore store;
    QVERIFY2(store.ready(), qPrintable(store.error()));
    const QString id = store.record_display({"sleep", "600"});
    QVERIFY2(!id.isEmpty(), qPrintable(store.error()));
    std::unique_ptr<LiveView> view;
    QString error;
    for (int i = 0; i < 100 && !view; ++i) {  // the session's X server comes up
      view.reset(open_session_view(store.path(), id, &error));
      if (!view) QTest::qWait(200);
    }
    QVERIFY2(view, qPrintable(error));
    view->show();

    // Session to viewer: xclip in the session sets CLIPBOARD (and stays to serve it). deja
    // exec passes on this test's DISPLAY (the viewer's): the session's own is :0.
    store.run({"exec", id, "--", "sh", "-c",
               "printf 'from the session' | DISPLAY=:0 xclip -selection clipboard"});
    QVERIFY2(store.ready(), qPrintable(store.error()));
    QTRY_COMPARE_WITH_TIMEOUT(run("xclip", {"-selection", "clipboard", "-o"}),
                              QStringLiteral("from the session"), kWaitMs);

    // Viewer to session: xclip on the viewer's display (in the foreground, ended here).
    QProcess setter;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("DISPLAY", g_display);
    setter.setProcessEnvironment(env);
    setter.start("sh", {"-c", "printf 'from the viewer' | xclip -quiet -selection clipboard"});
    QVERIFY(setter.waitForStarted());
    auto in_session = [&] {
      return run(store.deja(), {"--store", store.path(), "exec", id, "--", "env", "DISPLAY=:0",
                                "xclip", "-selection", "clipboard", "-o"});
    };
    QTRY_COMPARE_WITH_TIMEOUT(in_session(), QStringLiteral("from the viewer"), kWaitMs);
    setter.kill();
    setter.waitForFinished();
  }
};

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    std::printf("SKIP: needs root: real sessions in namespaces on a btrfs loop image\n");
    return deja::ui::test::kSkipReturnCode;
  }
  for (const char* program : {"Xvfb", "xclip"})
    if (QStandardPaths::findExecutable(program).isEmpty()) {
      std::printf("FAIL: %s is missing: run scripts/install-deps.sh\n", program);
      return 1;
    }
  int number = 500;
  while (QFile::exists(QStringLiteral("/tmp/.X%1-lock").arg(number))) ++number;
  g_display = QStringLiteral(":%1").arg(number);
  QProcess xvfb;
  xvfb.start("Xvfb", {g_display, "-screen", "0", "1400x900x24", "-nolisten", "tcp"});
  if (!xvfb.waitForStarted()) return 1;
  for (int i = 0; i < 200 && !QFile::exists(QStringLiteral("/tmp/.X11-unix/X%1").arg(number)); ++i)
    ::usleep(50000);
  qputenv("DISPLAY", g_display.toUtf8());
  qputenv("QT_QPA_PLATFORM", "xcb");
  int status = 1;
  {
    QApplication app(argc, argv);
    ClipboardTest tc;
    status = QTest::qExec(&tc, argc, argv);
  }
  xvfb.terminate();
  xvfb.waitForFinished();
  return status;
}

#include "clipboard_test.moc"
