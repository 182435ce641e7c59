// deja-bench-qt-text FILE: shows FILE read-only in a Qt text view with Qt's default style and
// font, as an ordinary Qt application shows text; the recall benchmark reads it off screen.
#include <QApplication>
#include <QFile>
#include <QPlainTextEdit>

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  if (argc != 2) {
    qCritical("usage: deja-bench-qt-text FILE");
    return 2;
  }
  QFile file(argv[1]);
  if (!file.open(QIODevice::ReadOnly)) {
    qCritical("deja-bench-qt-text: cannot open %s", argv[1]);
    return 1;
  }
  QPlainTextEdit view;
  // Titled like the GTK window (gtk_text_window.py): the window's accessible name is its
  // title, and the recorder reads a window from the accessibility bus only by its title.
  view.setWindowTitle("corpus");
  view.setReadOnly(true);
  view.setLineWrapMode(QPlainTextEdit::NoWrap);
  view.setPlainText(QString::fromUtf8(file.readAll()));
  view.resize(1000, 700);
  view.move(0, 0);
  view.show();
  return app.exec();
}
