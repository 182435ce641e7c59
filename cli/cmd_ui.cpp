// deja ui: replaces this process with the Qt browser, deja-ui, installed beside deja.
// require_display, shared with deja view, is here too.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/Error.h"
#include "base/Files.h"
#include "cli/Args.h"
#include "cli/Command.h"

namespace deja::cli {

void require_display(const std::string& what) {
  // Without any display Qt aborts with several lines; say it in one, as every command does.
  auto set = [](const char* name) {
    const char* v = std::getenv(name);
    return v && *v;
  };
  if (!set("DISPLAY") && !set("WAYLAND_DISPLAY") && !set("QT_QPA_PLATFORM"))
    throw Error("no display to " + what +
                " on: run it in a desktop session, or set DISPLAY (or WAYLAND_DISPLAY) to one");
}

int cmd_ui(const Invocation& inv) {
  Args args(inv.words, {}, {});
  if (!args.positionals().empty())
    throw Error("unexpected argument '" + args.positionals()[0] + "' (see deja ui --help)");
  require_display("open the browser");
  // exec rather than spawn: the browser is the command, with deja's stdio and exit status.
  // It gets the store deja chose, so `deja --store DIR ui` and $DEJA_STORE both work.
  std::string program = exe_dir() + "/deja-ui";
  std::string store_option = "--store=" + inv.store_dir;
  char* argv[] = {program.data(), store_option.data(), nullptr};
  ::execv(program.c_str(), argv);
  throw Error("cannot start the browser " + program + ": " + std::strerror(errno) +
              " (build it with the deja-ui target, or install it beside deja)");
}

}  // namespace deja::cli
