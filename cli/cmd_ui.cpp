// deja ui: replaces this process with the Qt browser, deja-ui, installed beside deja.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/Error.h"
#include "base/Files.h"
#include "cli/Args.h"
#include "cli/Command.h"

namespace deja::cli {

int cmd_ui(const Invocation& inv) {
  Args args(inv.words, {}, {});
  if (!args.positionals().empty())
    throw Error("unexpected argument '" + args.positionals()[0] + "' (see deja ui --help)");
  // Without any display Qt aborts with several lines; say it in one, as every command does.
  auto set = [](const char* name) {
    const char* v = std::getenv(name);
    return v && *v;
  };
  if (!set("DISPLAY") && !set("WAYLAND_DISPLAY") && !set("QT_QPA_PLATFORM"))
    throw Error(
        "no display to open the browser on: run it in a desktop session, or set DISPLAY "
        "(or WAYLAND_DISPLAY) to one");
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
