// Ctrl+C and SIGTERM for the Qt programs: they end the event loop, so destructors run.
#pragma once

class QCoreApplication;

namespace deja::ui {

/// Makes SIGINT and SIGTERM quit `app`'s event loop (through a socket pair the handler
/// writes to) instead of killing the process, so the window's destructors run.
void quit_on_stop_signals(QCoreApplication& app);

}  // namespace deja::ui
