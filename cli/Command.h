// One `deja` subcommand: its name, usage text and entry point. main.cpp holds the table.
#pragma once

#include <string>
#include <vector>

namespace deja::cli {

/// What every command receives: the store folder chosen by --store/$DEJA_STORE/default
/// and the words after the command name.
struct Invocation {
  std::string store_dir;
  std::vector<std::string> words;
};

/// Entry points, one per file cli/cmd_*.cpp. main() answers --help before calling them.
int cmd_init(const Invocation&);
int cmd_doctor(const Invocation&);
int cmd_record(const Invocation&);
int cmd_sessions(const Invocation&);
int cmd_checkpoints(const Invocation&);
int cmd_checkpoint(const Invocation&);
int cmd_exec(const Invocation&);
int cmd_logs(const Invocation&);
int cmd_stop(const Invocation&);
int cmd_image(const Invocation&);
int cmd_gc(const Invocation&);
int cmd_compact(const Invocation&);
int cmd_revive(const Invocation&);
int cmd_frame(const Invocation&);
int cmd_search(const Invocation&);
int cmd_export(const Invocation&);
int cmd_ui(const Invocation&);
int cmd_view(const Invocation&);
int cmd_attach(const Invocation&);
int cmd_pause(const Invocation&);
int cmd_resume(const Invocation&);
int cmd_gaps(const Invocation&);
int cmd_daemon(const Invocation&);
int cmd_pin(const Invocation&);
int cmd_rm(const Invocation&);
int cmd_df(const Invocation&);

/// Throws a one-line Error when there is no display for a Qt window (`what`: "open the
/// browser").
void require_display(const std::string& what);

struct Command {
  const char* name;
  const char* usage;    // first line of --help, after "deja "
  const char* summary;  // the rest of --help
  int (*run)(const Invocation&);
};

}  // namespace deja::cli
