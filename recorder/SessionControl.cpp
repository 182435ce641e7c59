// Reaching sessions that exist: looking them up, asking their recorder, running a command
// inside, and stopping them (also when their recorder is gone).
#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "base/Cgroup.h"
#include "base/Error.h"
#include "base/Files.h"
#include "base/ScopedFd.h"
#include "base/Time.h"
#include "recorder/ContainerIds.h"
#include "recorder/ContainerView.h"
#include "recorder/ControlChannel.h"
#include "recorder/Session.h"
#include "recorder/Supervisor.h"

namespace deja::recorder {

db::SessionRow known_session(db::Catalog& catalog, const std::string& id) {
  auto s = catalog.find_session(id);
  if (!s) throw Error("no session '" + id + "' in this store (see deja sessions)");
  return *s;
}

bool recorder_alive(const snapshot::Store& store, const std::string& id) {
  auto reply = control_request(store.dir(), id, "ping", std::chrono::seconds(10));
  return reply && *reply == "ok";
}

std::string session_state(const snapshot::Store& store, const db::SessionRow& row) {
  bool live_row = row.state == "recording" || row.state == "paused" || row.state == "starting";
  if (!live_row) return row.state;
  if (recorder_alive(store, row.id)) return row.state;
  std::string cgroup = session_cgroup_path(row.id);
  if (row.state != "starting" && path_exists(cgroup) && !Cgroup::open(cgroup).empty())
    return "unrecorded";
  return "stopped";
}

double unrecorded_since(const snapshot::Store& store, db::Catalog& catalog,
                        const db::SessionRow& row) {
  struct stat st {};
  if (::stat(heartbeat_path(store, row.id).c_str(), &st) == 0)
    return static_cast<double>(st.st_mtim.tv_sec) + st.st_mtim.tv_nsec / 1e9;
  auto newest = catalog.checkpoint_at(row.id, unix_now());
  return newest ? newest->time : row.started;
}

db::SessionRow running_session(db::Catalog& catalog, const snapshot::Store& store,
                               const std::string& id) {
  db::SessionRow s = known_session(catalog, id);
  std::string state = session_state(store, s);
  if (state == "unrecorded")
    throw Error("session " + id + " is unrecorded (its recorder is gone); deja attach " + id +
                " records it again");
  if (state != "recording" && state != "paused")
    throw Error("session " + id + " is not running (it is " + state +
                "); start a new one with deja record or deja revive");
  return s;
}

static std::string ask(const snapshot::Store& store, const std::string& id,
                       const std::string& request, std::chrono::milliseconds timeout) {
  auto reply = control_request(store.dir(), id, request, timeout);
  if (!reply) throw Error("session " + id + " is not running: its recorder does not answer");
  if (reply->rfind("ok", 0) == 0) return reply->size() > 3 ? reply->substr(3) : "";
  throw Error(reply->rfind("error ", 0) == 0 ? reply->substr(6) : *reply);
}

void request_pause(const snapshot::Store& store, const std::string& id, bool pause) {
  ask(store, id, pause ? "pause" : "resume", std::chrono::seconds(60));
}

uint64_t request_checkpoint(const snapshot::Store& store, const std::string& id) {
  return std::stoull(ask(store, id, "checkpoint", std::chrono::seconds(120)));
}

void remove_exec_cgroup(const std::string& id) {
  std::string path = session_cgroup_path(id) + ".exec";
  if (!path_exists(path)) return;
  // What `deja exec` left running there lived in the session's PID namespace, which is gone
  // or going; the kill covers one that is not.
  Cgroup::open(path).end();
}

void request_stop(const snapshot::Store& store, db::Catalog& catalog, const std::string& id) {
  db::SessionRow s = known_session(catalog, id);
  if (recorder_alive(store, id)) {
    ask(store, id, "stop", std::chrono::seconds(60));
    return;
  }
  // No recorder (it was killed): end whatever of the session still runs, by its cgroup. The
  // time since its recorder died was not recorded: the timeline shows that gap.
  double now = unix_now();
  if (session_state(store, s) == "unrecorded")
    catalog.add_gap({id, unrecorded_since(store, catalog, s), now, "unrecorded"});
  catalog.close_gaps(id, "paused", now);
  ::unlink(heartbeat_path(store, id).c_str());
  std::string path = session_cgroup_path(id);
  bool running = path_exists(path);
  if (running) {
    Cgroup::open(path).end();
  }
  remove_exec_cgroup(id);
  remove_session_limit_groups(id);
  if (!running && s.state != "recording" && s.state != "paused" && s.state != "starting")
    throw Error("session " + id + " is already stopped");
  catalog.set_session_stopped(id, now, std::nullopt);
}

// Whether the session runs in a user namespace of its own (recorded with --userns).
static bool has_own_user_namespace(pid_t init) {
  struct stat ours;
  struct stat theirs;
  std::string theirs_path = "/proc/" + std::to_string(init) + "/ns/user";
  if (::stat("/proc/self/ns/user", &ours) != 0) throw_errno("stat", "/proc/self/ns/user");
  if (::stat(theirs_path.c_str(), &theirs) != 0) throw_errno("stat", theirs_path);
  return ours.st_ino != theirs.st_ino || ours.st_dev != theirs.st_dev;
}

// Moves the calling process into `group`. Another deja exec that ends at the same moment
// removes the group while it is empty, before this one is in it: then it is made again.
static void join_exec_group(const std::string& group) {
  std::string procs = group + "/cgroup.procs";
  for (int tries = 0;; ++tries) {
    if (::mkdir(group.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir", group);
    ScopedFd fd(::open(procs.c_str(), O_WRONLY | O_CLOEXEC));
    if (fd && ::write(fd.get(), "0", 1) == 1) return;
    // ENOENT: gone before the open; ENODEV: removed between the open and the write.
    if ((errno != ENOENT && errno != ENODEV) || tries == 100)
      throw_errno(fd ? "write" : "open", procs);
  }
}

int exec_in_session(const db::SessionRow& session, const IdMap& ids,
                    const std::vector<std::string>& command) {
  if (command.empty()) throw Error("no command given: deja exec SESSION -- CMD [ARG...]");
  SessionUser user = user_of(ids);  // from the host's files, before entering the session
  if (!session.init_pid) throw Error("session " + session.id + " is not running");
  pid_t init = static_cast<pid_t>(*session.init_pid);
  Cgroup cg = Cgroup::open(session_cgroup_path(session.id));
  ScopedFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, init, 0)));
  if (!pidfd) throw_errno("pidfd_open", "session init " + std::to_string(init));
  // The PID could have been reused: it must still be in the session's cgroup.
  if (!cg.contains(init)) throw Error("session " + session.id + " is not running");

  // Commands run beside the session, in a group of their own: they are not part of its
  // checkpoints (a process of the session's group outside its tree would fail every one).
  std::string beside = cg.path() + ".exec";
  pid_t helper = ::fork();
  if (helper < 0) throw_errno("fork", "deja exec");
  if (helper == 0) {
    try {
      join_exec_group(beside);
      bool own_users = has_own_user_namespace(init);
      if (::setns(pidfd.get(), CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC |
                                   CLONE_NEWNET | (own_users ? CLONE_NEWUSER : 0)) != 0)
        throw_errno("setns", "session " + session.id);
      // As the session's root, not as a host uid it cannot map (nobody inside).
      if (own_users) become_session_root();
      pid_t child = ::fork();  // only a child enters the PID namespace
      if (child < 0) throw_errno("fork", "deja exec");
      if (child == 0) {
        if (::chdir(session.home.c_str()) != 0) throw_errno("chdir", session.home);
        ::setenv("HOME", session.home.c_str(), 1);
        ::setenv("DEJA_SESSION", session.id.c_str(), 1);
        // Only stdio passes through: other descriptors of the caller stay out of the session.
        ::close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
        // As confined as the session, but out of its programs' ptrace reach; as its user.
        confine_process(/*keep_ptrace=*/true);
        if (own_users) become_session_user(user, /*keep_ptrace=*/true);
        std::vector<char*> argv;
        for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        std::fprintf(stderr, "deja: exec %s: %s\n", argv[0], std::strerror(errno));
        ::_exit(127);
      }
      int st = 0;
      while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
      }
      ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "deja: %s\n", e.what());
      ::_exit(126);
    }
  }
  int st = 0;
  while (::waitpid(helper, &st, 0) < 0 && errno == EINTR) {
  }
  ::rmdir(beside.c_str());  // fails (EBUSY) while another deja exec still runs there
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace deja::recorder
