// deja view SESSION: a live window on a running session's screen (deja-view, installed
// beside deja), with keyboard and mouse sent into the session.
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/Error.h"
#include "base/Files.h"
#include "cli/Args.h"
#include "cli/Command.h"
#include "cli/StoreAccess.h"
#include "display/ScreenRecorder.h"
#include "recorder/Session.h"

namespace deja::cli {

int cmd_view(const Invocation& inv) {
  Args args(inv.words, {}, {});
  const std::string& id = args.one_positional("SESSION");
  require_display("open the live view");
  OpenStore s = open_store(inv);
  db::SessionRow session = recorder::known_session(*s.catalog, id);
  if (!recorder::recorder_alive(s.store, id))
    throw Error("session " + id + " is not running, so there is no live screen to view (deja frame " +
                id + "@T shows its recorded screen)");
  const std::string files = s.store.session_subvolume(id);
  // Only the paths matter here; the geometry is the session's own business.
  const display::SessionDisplay screen = display::session_display(files, "1280x800");
  if (!path_exists(screen.framebuffer_on_host))
    throw Error("session " + id +
                " has no display (it was recorded with --no-display): there is no screen to view");
  // The server's socket inside the container is in /tmp, which is the subvolume's tmp/.
  const std::string socket = files + screen.server_socket;
  std::string program = exe_dir() + "/deja-view";
  std::string fb_option = "--framebuffer=" + screen.framebuffer_on_host;
  std::string socket_option = "--x-socket=" + socket;
  std::string session_option = "--session=" + id;
  char* argv[] = {program.data(), fb_option.data(), socket_option.data(), session_option.data(),
                  nullptr};
  s.catalog.reset();
  ::execv(program.c_str(), argv);
  throw Error("cannot start the viewer " + program + ": " + std::strerror(errno) +
              " (build it with the deja-view target, or install it beside deja)");
}

}  // namespace deja::cli
