// A real Deja store for UI tests: a temporary folder with a btrfs loop image made by the
// real deja binary, sessions recorded in it, and cleanup that always runs (the destructor
// stops the sessions it started, unmounts the store and removes the folder).
#pragma once

#include <unistd.h>

#include <QApplication>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>
#include <QTest>
#include <cstdio>

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

 private:
  QTemporaryDir dir_;
  QStringList sessions_;
  QString error_;
};

/// What a test that cannot run here exits with; CTest's SKIP_RETURN_CODE for these tests, so a
/// skip shows as "Skipped", never as "Passed".
inline constexpr int kSkipReturnCode = 77;

}  // namespace deja::ui::test

/// QTEST_MAIN for tests on a real store: they need root (sessions in namespaces on a btrfs loop
/// image); without it the whole test is skipped, visibly.
#define DEJA_REAL_STORE_TEST_MAIN(TestObject)                                               \
  int main(int argc, char** argv) {                                                         \
    if (::geteuid() != 0) {                                                                 \
      std::printf("SKIP: needs root: real sessions in namespaces on a btrfs loop image\n"); \
      return deja::ui::test::kSkipReturnCode;                                               \
    }                                                                                       \
    QApplication app(argc, argv);                                                           \
    TestObject tc;                                                                          \
    QTEST_SET_MAIN_SOURCE_PATH                                                              \
    return QTest::qExec(&tc, argc, argv);                                                   \
  }
