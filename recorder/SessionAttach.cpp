// Re-attaching: a new recorder adopts a running session whose recorder died. The session is
// not restarted; what it did meanwhile is a gap in its recording, and checkpoints resume.
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/Error.h"
#include "base/Files.h"
#include "base/Time.h"
#include "recorder/ContainerLimits.h"
#include "recorder/Session.h"
#include "recorder/SessionScreen.h"
#include "recorder/Supervisor.h"
#include "recorder/ThawGuard.h"

namespace deja::recorder {

namespace {

// The session's init, if it still runs in the session's group.
ContainerInit find_init(const db::SessionRow& row, const Cgroup& cg) {
  ContainerInit init;
  if (!row.init_pid) return init;
  init.pid = static_cast<pid_t>(*row.init_pid);
  init.pidfd = ScopedFd(static_cast<int>(::syscall(SYS_pidfd_open, init.pid, 0)));
  // The PID could have been reused: only a process of the session's group is its init.
  if (!init.pidfd || !cg.contains(init.pid)) init.pidfd.reset();
  return init;
}

// A session whose init is gone has ended; what is left of it goes too.
[[noreturn]] void mark_ended(db::Catalog& catalog, const std::string& id,
                             const std::string& cgroup_path) {
  if (path_exists(cgroup_path)) {
    Cgroup::open(cgroup_path).end();
  }
  catalog.set_session_stopped(id, unix_now(), std::nullopt);
  throw Error("session " + id + " has ended (its processes are gone): marked stopped");
}

}  // namespace

int attach_session(const snapshot::Store& store, const std::string& id,
                   const std::function<void(const std::string& id)>& on_ready) {
  db::Catalog catalog(store.catalog_path());
  db::SessionRow row = known_session(catalog, id);
  std::string state = session_state(store, row);
  if (state == "recording" || state == "paused" || state == "starting")
    throw Error("session " + id + " already has a recorder (pid " +
                std::to_string(row.supervisor_pid.value_or(0)) + ")");
  if (row.state == "stopped" || row.state == "failed")
    throw Error("session " + id + " is " + row.state +
                ": nothing runs to record (deja revive " + id + " starts a branch of it)");
  std::string cgroup_path = session_cgroup_path(id);
  if (!path_exists(cgroup_path)) mark_ended(catalog, id, cgroup_path);
  Cgroup cg = Cgroup::open(cgroup_path);
  ContainerInit init = find_init(row, cg);
  if (!init.pidfd) mark_ended(catalog, id, cgroup_path);
  double gap_from = unrecorded_since(store, catalog, row);
  bool paused = row.state == "paused";
  pid_t init_pid = init.pid;

  ::umask(077);
  std::optional<Supervisor> supervisor;
  try {
    supervisor.emplace(store, catalog, id, std::move(cg), std::move(init),
                       row.interval.value_or(1.0), /*adopted=*/true);
  } catch (const SysError& e) {
    if (e.err() != EADDRINUSE) throw;
    throw Error("session " + id + " already has a recorder (another deja attach or deja daemon "
                "adopted it just now)");
  }
  // A recorder killed mid-checkpoint leaves the session frozen until its guard thaws it.
  Cgroup::open(cgroup_path).set_frozen(false);
  ThawGuard guard(cgroup_path);
  std::string framebuffer = framebuffer_of(store, id);
  SessionScreen screen(store, id, path_exists(framebuffer) ? framebuffer : std::string());
  if (paused)
    supervisor->start_paused();  // it stays paused; its open "paused" gap goes on
  else
    screen.start();
  double now = unix_now();
  if (!paused) catalog.add_gap({id, gap_from, std::max(gap_from, now), "unrecorded"});
  catalog.set_session_running(id, ::getpid(), init_pid, paused ? "paused" : "recording");
  on_ready(id);
  SupervisorHooks hooks = screen.hooks();
  // The session's cgroup v1 limit groups were made by the recorder that started it: this one
  // removes them when the session ends, before `deja stop` is answered (as that one would).
  hooks.on_end = [&id, end = hooks.on_end] {
    if (end) end();
    remove_session_limit_groups(id);
  };
  return supervisor->run(hooks);
}

}  // namespace deja::recorder
