// Starting sessions: recording a command, or reviving a checkpoint as a branch. Both build a
// LaunchPlan and go through one path: files, cgroup, container, recorder.
#include "recorder/Session.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/Error.h"
#include "base/Files.h"
#include "base/Json.h"
#include "base/Time.h"
#include "db/StoreLock.h"
#include "display/MediaLibs.h"
#include "display/ScreenRecorder.h"
#include "kmod/PageRefs.h"
#include "kmod/Restore.h"
#include "kmod/TreeCodec.h"
#include "recorder/SessionScreen.h"
#include "recorder/Supervisor.h"
#include "recorder/ThawGuard.h"
#include "snapshot/Subvolume.h"

namespace deja::recorder {

namespace {

std::string new_session_id() {
  unsigned char bytes[4];
  if (::getrandom(bytes, sizeof bytes, 0) != sizeof bytes) throw_errno("getrandom", "session id");
  char buf[9];
  std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3]);
  return buf;
}

std::string session_home(uid_t uid) {
  const passwd* pw = ::getpwuid(uid);
  return std::string("/home/") + (pw ? pw->pw_name : "user");
}

// A command named without a slash must be on PATH; say so before building a session for it.
void check_command(const std::vector<std::string>& command) {
  if (command.empty()) throw Error("no command given: deja record -- CMD [ARG...]");
  const std::string& name = command[0];
  if (name.find('/') != std::string::npos) return;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return;
    start = end + 1;
  }
  throw Error("command not found: " + name);
}

// The default desktop (`deja record` with no command): a window manager and a terminal from
// Debian. Without RandomPlacement twm asks the user to place every new window and grabs the
// X server meanwhile, which hangs every other client; UsePPosition lets a program's own
// position stand. The desktop ends with its terminal, as a log-out would.
constexpr const char* kDesktopDir = "/run/deja/desktop";
constexpr const char* kDesktopTwmrc =
    "RandomPlacement\n"
    "UsePPosition \"on\"\n"
    "NoGrabServer\n"
    "DecorateTransients\n"
    "BorderWidth 2\n"
    "Color {\n  BorderColor \"slategrey\"\n  TitleBackground \"steelblue\"\n"
    "  TitleForeground \"white\"\n}\n"
    "Button1 = : root : f.menu \"desktop\"\n"
    "Button1 = : title : f.move\n"
    "Button2 = : title : f.raiselower\n"
    "Button3 = : title : f.resize\n"
    "menu \"desktop\" {\n"
    "  \"Desktop\" f.title\n"
    "  \"Terminal\" f.exec \"xterm &\"\n"
    "  \"Raise or lower\" f.raiselower\n"
    "  \"Close window\" f.delete\n"
    "}\n";

std::vector<std::string> desktop_command() {
  const std::string dir = kDesktopDir;
  return {"sh", "-c",
          "LC_ALL=C twm -f " + dir + "/twmrc & wm=$!; "
          "xterm -fa 'DejaVu Sans Mono' -fs 11 -geometry 100x30+40+40 -title Terminal; "
          "kill $wm 2>/dev/null"};
}

void write_desktop_files(const std::string& files) {
  make_dirs(files + kDesktopDir, 0755);
  write_file(files + kDesktopDir + "/twmrc", kDesktopTwmrc);
}

std::string json_argv(const std::vector<std::string>& argv) {
  JsonWriter w;
  w.begin_array();
  for (const auto& a : argv) w.value(a);
  w.end_array();
  return w.str();
}

// Everything a new session puts in the store, removed again unless the session started.
class SessionSetup {
 public:
  SessionSetup(const snapshot::Store& store, db::Catalog& catalog, std::string id)
      : store_(store), catalog_(catalog), id_(std::move(id)) {}
  ~SessionSetup() {
    if (done_) return;
    try {
      if (row_added_) {
        db::Statement(catalog_.database(), "DELETE FROM sessions WHERE id = ?").bind(1, id_).run();
      }
      if (cgroup_made_) ::rmdir(session_cgroup_path(id_).c_str());
      ::rmdir((store_.snapshots_dir() + "/" + id_).c_str());
      if (files_made_) snapshot::delete_subvolume(store_.session_subvolume(id_));
    } catch (...) {
      // Best effort: the error that made us roll back is the one to report.
    }
  }
  void files(const std::function<void(const std::string&)>& make) {
    files_made_ = true;  // a half-made subvolume is deleted too
    make(store_.session_subvolume(id_));
    make_dirs(store_.snapshots_dir() + "/" + id_, 0700);
  }
  Cgroup cgroup() {
    make_dirs(cgroup2_mount() + "/deja", 0755);
    Cgroup cg = Cgroup::create(session_cgroup_path(id_));
    cgroup_made_ = true;
    return cg;
  }
  void row(const db::SessionRow& s) {
    catalog_.add_session(s);
    row_added_ = true;
  }
  void done() { done_ = true; }

 private:
  const snapshot::Store& store_;
  db::Catalog& catalog_;
  std::string id_;
  bool files_made_ = false, cgroup_made_ = false, row_added_ = false, done_ = false;
};

// Where the session's init lives, inside the container (in the session's own files).
constexpr const char* kInitInSession = "/run/deja/deja-init";

// Runs in the container as PID 1: output to the session's log, then become deja-init.
void exec_init(const std::string& id, const std::string& home,
               const std::vector<std::string>& command,
               const std::optional<display::SessionDisplay>& screen, const SessionUser& user) {
  int log = ::open("/run/deja/session.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) throw_errno("open", "/run/deja/session.log");
  int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0) throw_errno("open", "/dev/null");
  if (::dup2(null, 0) < 0 || ::dup2(log, 1) < 0 || ::dup2(log, 2) < 0)
    throw_errno("dup2", "session log");
  // The log stays the session root's; everything from deja-init on runs as the user.
  become_session_user(user);
  if (user.uid != 0) ::setenv("USER", user.name.c_str(), 1);
  // Nothing of the caller's leaks in: every other descriptor closes at the exec.
  if (::close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) != 0) throw_errno("close_range", "fds >= 3");
  ::setenv("HOME", home.c_str(), 1);
  ::setenv("PWD", home.c_str(), 1);
  ::setenv("DEJA_SESSION", id.c_str(), 1);
  std::vector<std::string> words = {"deja-init"};
  if (screen) {
    ::setenv("DISPLAY", screen->display.c_str(), 1);
    // Qt applications join the accessibility bus only when a screen reader is said to be
    // on; with this they join whenever the session has the bus (GTK ones always do), so the
    // recorder indexes their exact text beside OCR (docs/recording-format.md).
    ::setenv("QT_LINUX_ACCESSIBILITY_ALWAYS_ON", "1", 1);
    words.insert(words.end(), {"--server-socket", screen->server_socket, "--server"});
    words.insert(words.end(), screen->server_argv.begin(), screen->server_argv.end());
    words.push_back("--");
  }
  words.insert(words.end(), command.begin(), command.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execv(kInitInSession, argv.data());
  throw_errno("execv", kInitInSession);
}

// How a new session comes to be: its catalog row, how its files are made, and what runs as
// PID 1 of its container. Recording and reviving differ only in these.
struct LaunchPlan {
  db::SessionRow row;  // id and started are filled in by launch_session
  std::string hostname;
  std::function<void(const std::string& files)> make_files;
  std::function<void(const db::SessionRow& row, int error_fd)> pid1;
  // Runs outside while PID 1 sets itself up (reviving fetches pages from here); may be empty.
  std::function<void()> while_starting;
  // Runs outside once PID 1 is up (reviving fills the skeleton from here); may be empty.
  std::function<void(pid_t init_pid)> after_start;
  // The session's screen ("WxHxD"), recorded from outside; empty: no display.
  std::string display_geometry;
  // A branch of a session with a display: its revived X server already runs, from the
  // framebuffer file in the branch's files; only its recording starts.
  bool revived_display = false;
  ResourceLimits limits;
  // Confined before PID 1 runs (ContainerView.h); a revive's skeleton instead gets back each
  // process's own confinement from the image.
  bool confine = true;
  // The session's user namespace (disabled: none); `new_ids`: the files are new, and are
  // given to its root (a branch's snapshot already belongs to it and holds the map).
  IdMap ids;
  bool new_ids = false;
  std::vector<db::WindowExclusion> exclude_windows;
};

std::optional<display::SessionDisplay> screen_of(const snapshot::Store& store,
                                                 const std::string& id,
                                                 const std::string& geometry) {
  if (geometry.empty()) return std::nullopt;
  return display::session_display(store.session_subvolume(id), geometry);
}


// Branches keep the hostname of the session they descend from: a revived program may have
// read it before, and must see the same.
std::string lineage_hostname(db::Catalog& catalog, db::SessionRow row) {
  while (row.parent) {
    auto parent = catalog.find_session(*row.parent);
    if (!parent) break;
    row = *parent;
  }
  return "deja-" + row.id;
}

int launch_session(const snapshot::Store& store, LaunchPlan plan, double interval,
                   const std::function<void(const std::string& id)>& on_ready) {
  // Orphans of what we start come back to us, not to a slow host init (see ARCHITECTURE.md).
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) throw_errno("prctl", "PR_SET_CHILD_SUBREAPER");
  db::Catalog catalog(store.catalog_path());
  std::string id = new_session_id();
  SessionSetup setup(store, catalog, id);
  setup.files(plan.make_files);
  Cgroup cgroup = setup.cgroup();
  SessionLimitGroups limits(id, cgroup.path(), plan.limits);
  protect_from_oom_killer();

  auto screen = screen_of(store, id, plan.display_geometry);
  if (screen) make_dirs(screen->fbdir_on_host, 0755);
  if (plan.new_ids) {
    write_id_map(store.session_subvolume(id), plan.ids);
    // The user's: its home, and the folder its X server keeps the framebuffer in.
    std::vector<std::string> user_dirs = {store.session_subvolume(id) + "/home"};
    if (screen) user_dirs.push_back(screen->fbdir_on_host);
    give_session_files(store.session_subvolume(id), plan.ids, user_dirs);
  }
  plan.row.id = id;
  plan.row.state = "starting";
  plan.row.started = unix_now();
  plan.row.interval = interval;
  setup.row(plan.row);
  catalog.set_window_exclusions(id, plan.exclude_windows);

  ContainerSpec spec;
  spec.files = store.session_subvolume(id);
  spec.home = plan.row.home;
  spec.hostname = plan.hostname.empty() ? "deja-" + id : plan.hostname;
  spec.store_dir = store.dir();
  spec.store_root = store.root();
  spec.store_loop_backed = store.loop_backed();
  spec.cgroup_fd = cgroup.dir_fd();
  spec.join_cgroups = limits.procs_files();
  spec.confine = plan.confine;
  spec.ids = plan.ids;
  ContainerInit init = start_container(
      spec, [&](int error_fd) { plan.pid1(plan.row, error_fd); }, plan.while_starting);
  pid_t init_pid = init.pid;
  // From here any failure (a squatted control socket, a catalog write) ends the container.
  StartedContainer started(cgroup.path(), init_pid);
  if (plan.after_start) plan.after_start(init_pid);
  // Files the recorder makes from here (images, recordings) are the user's alone; the
  // session's processes, started above, keep the caller's umask.
  ::umask(077);
  ThawGuard guard(cgroup.path());
  Supervisor supervisor(store, catalog, id, std::move(cgroup), std::move(init), interval);
  // Started last: its threads must not exist while this process still forks (above).
  SessionScreen screen_recording(
      store, id,
      screen ? screen->framebuffer_on_host
             : (plan.revived_display ? framebuffer_of(store, id) : std::string()));
  screen_recording.start();
  catalog.set_session_running(id, ::getpid(), init_pid);
  started.release();
  setup.done();
  on_ready(id);
  SupervisorHooks hooks = screen_recording.hooks();
  // The limit groups go before `deja stop` is answered, as the session's own group does:
  // the recorder's teardown after the answer (the checkpointer, the screen) takes a while.
  hooks.on_end = [&limits, end = hooks.on_end] {
    if (end) end();
    limits.remove();
  };
  return supervisor.run(hooks);
}

}  // namespace

std::string session_cgroup_path(const std::string& id) {
  return cgroup2_mount() + "/deja/" + id;
}

std::string framebuffer_of(const snapshot::Store& store, const std::string& id) {
  return store.session_subvolume(id) + display::kFramebufferDirInSession + "/" +
         display::kFramebufferFile;
}

int record_session(const snapshot::Store& store, const RecordOptions& requested,
                   const std::function<void(const std::string& id)>& on_ready) {
  RecordOptions options = requested;
  if (options.desktop) {
    if (!options.display) throw Error("the default desktop needs a display: drop --no-display");
    for (const char* program : {"twm", "xterm"}) {
      try {
        check_command({program});
      } catch (const Error&) {
        throw Error(std::string("the default desktop needs ") + program +
                    " (apt-get install twm xterm), or give your own: deja record -- CMD");
      }
    }
    options.command = desktop_command();
    if (options.name.empty()) options.name = "desktop";
  }
  check_command(options.command);
  std::string init_path = exe_dir() + "/deja-init";
  if (!path_exists(init_path))
    throw Error(init_path + " is missing (is deja installed completely?)");

  if (!options.userns && !options.user.empty())
    throw Error("--user runs the session as that user inside its user namespace: drop --no-userns");
  // Without a user namespace the session runs as the host's root, as asked. Recorded through
  // the service for a user, it runs as that user.
  std::string as = options.user;
  if (as.empty() && options.owner)
    if (const passwd* pw = ::getpwuid(static_cast<uid_t>(*options.owner))) as = pw->pw_name;
  SessionUser user = options.userns ? session_user(as) : SessionUser{};

  LaunchPlan plan;
  plan.row.name = options.name.empty() ? options.command[0] : options.name;
  plan.row.command = json_argv(options.command);
  plan.row.home = user.uid == 0 ? session_home(::geteuid()) : "/home/" + user.name;
  plan.make_files = [&](const std::string& files) {
    snapshot::create_subvolume(files);
    prepare_session_files(files);
    // The session keeps its own copy of its init: a revive maps the very same file from the
    // checkpoint's snapshot, whatever happened to this build since.
    std::string copy = files + "/run/deja/deja-init";
    write_file(copy, read_file(init_path));
    if (::chmod(copy.c_str(), 0755) != 0) throw_errno("chmod", copy);
    if (options.desktop) write_desktop_files(files);
  };
  if (options.display) plan.display_geometry = options.geometry;
  if (!options.exclude_windows.empty() && !options.display)
    throw Error("--exclude-app and --exclude-title need the display: drop --no-display");
  plan.exclude_windows = options.exclude_windows;
  plan.row.owner = options.owner;
  plan.limits = options.limits;
  if (options.userns) {
    plan.ids = default_id_map();
    plan.ids.user_uid = user.uid;
    plan.ids.user_gid = user.gid;
    plan.new_ids = true;
  }
  // Captures by value: `plan` itself is moved into launch_session.
  plan.pid1 = [&, geometry = plan.display_geometry](const db::SessionRow& row, int) {
    exec_init(row.id, row.home, options.command, screen_of(store, row.id, geometry), user);
  };
  return launch_session(store, std::move(plan), options.interval, on_ready);
}

int revive_session(const snapshot::Store& store, const std::string& source_id, db::Crid crid,
                   const ReviveOptions& options,
                   const std::function<void(const std::string& id)>& on_ready) {
  // Until the branch runs, gc and compact must not delete what it reads.
  db::StoreLock lock(store.dir(), db::StoreLock::Mode::kShared, "revive");
  db::Catalog catalog(store.catalog_path());
  db::SessionRow source = known_session(catalog, source_id);
  auto checkpoint = catalog.find_checkpoint(source_id, crid);
  std::string name = source_id + ":" + std::to_string(crid.value);
  if (!checkpoint)
    throw Error("no checkpoint " + name + " (see deja checkpoints " + source_id + ")");
  if (!checkpoint->image)
    throw Error("checkpoint " + name +
                " holds only files (it was taken before process capture), so it cannot be revived");
  // Page data stays in the mapped image files; the fill copies it straight into the processes.
  kmod::TreeState tree =
      kmod::read_tree_image_mapped(store.images_dir() + "/" + *checkpoint->image);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) throw_errno("pipe2", "revive report");
  ScopedFd report_r(report[0]), report_w(report[1]);

  LaunchPlan plan;
  plan.row.name = options.name.empty() ? source.name : options.name;
  plan.row.command = source.command;
  plan.row.home = source.home;
  plan.row.parent = source.id;
  plan.row.parent_crid = crid.value;
  plan.row.owner = source.owner;
  plan.exclude_windows = catalog.window_exclusions(source.id);
  plan.hostname = lineage_hostname(catalog, source);
  plan.limits = options.limits;
  plan.confine = false;
  std::string snapshot = store.root() + "/" + checkpoint->snapshot;
  plan.ids = read_id_map(snapshot);
  plan.make_files = [&](const std::string& files) {
    snapshot::snapshot_subvolume(snapshot, files, /*read_only=*/false);
  };
  plan.revived_display = path_exists(store.root() + "/" + checkpoint->snapshot +
                                     display::kFramebufferDirInSession + "/" +
                                     display::kFramebufferFile);
  ScopedFd skeleton = kmod::open_skeleton_program();
  plan.pid1 = [&](const db::SessionRow&, int error_fd) {
    // The mounts are in place; from here the skeleton reports through its own pipe.
    ::close(error_fd);
    report_r.reset();
    kmod::run_skeleton(tree, report_w.get(), skeleton.get());
  };
  plan.while_starting = [&] {
    // Pages of an incremental image live in older images of the same session, named by CRID.
    // Fetched only now, while the container sets itself up and the skeleton builds: its
    // processes are forked without them (and no thread of ours may exist at that fork).
    auto chain_image = [&](kmod::Crid c) {
      return store.images_dir() + "/" + source_id + "/" + std::to_string(c.value) + ".img";
    };
    kmod::inherit_pages(tree, chain_image, kmod::image_file_fetcher(chain_image));
    // Their checksums are checked by the fill, each record just before its bytes are written:
    // a damaged image fails the fill, and nothing of the tree runs.
    kmod::map_page_refs(tree, chain_image);
  };
  plan.after_start = [&](pid_t init_pid) {
    report_w.reset();
    // A revived desktop's screen is recorded as soon as the branch runs: FFmpeg loads beside
    // the fill (whose tracer waits on its tracees much of the time) instead of after it.
    if (plan.revived_display) display::load_ffmpeg_in_background();
    kmod::fill_skeleton(tree, kmod::HostPid{init_pid}, report_r.get());
    // The branch runs on as this recorder's session: the image files need not stay mapped.
    tree = kmod::TreeState();
  };
  return launch_session(store, std::move(plan), options.interval, [&](const std::string& id) {
    lock.release();
    on_ready(id);
  });
}

}  // namespace deja::recorder
