#include "service/Daemon.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>
#include <vector>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "base/Time.h"
#include "db/Catalog.h"
#include "db/StoreLock.h"
#include "recorder/GarbageCollector.h"
#include "recorder/RetentionOfRecordings.h"
#include "recorder/Session.h"
#include "service/Spawn.h"
#include "snapshot/Subvolume.h"
#include "service/UserRequests.h"

namespace deja::service {

namespace {

// Retention holds the maintenance lock for this long at most, then leaves it free for this
// long: more than a checkpoint tick of 1 s, so every recorder's next tick finds it free.
constexpr double kSliceSeconds = 1.0, kPauseSeconds = 1.2;

double monotonic() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

ScopedFd pidfd_of(pid_t pid) {
  return ScopedFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

ScopedFd block_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&set, s);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) throw_errno("sigprocmask", "deja daemon");
  ScopedFd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) throw_errno("signalfd", "deja daemon");
  return fd;
}

class Daemon {
 public:
  Daemon(const snapshot::Store& store, const DaemonOptions& options)
      : store_(store), options_(options), catalog_(store.catalog_path()),
        signals_(block_signals()) {
    if (options.users_group)
      users_.emplace(options.service_socket, *options.users_group, options.deja_exe, store.dir(),
                     [this](const std::string& id) -> std::optional<std::optional<int64_t>> {
                       auto row = catalog_.find_session(id);
                       if (!row) return std::nullopt;
                       return row->owner;
                     });
  }

  int run();

 private:
  struct Recorder {
    pid_t pid = -1;
    ScopedFd pidfd;
    bool ours = false;   // started by this daemon (a `deja attach` child)
    double started = 0;  // monotonic, for ours
  };
  struct Retry {
    double at = 0;     // monotonic time of the next try
    double delay = 1;  // doubles while adopting keeps failing at once
  };

  bool handle_signals();
  void recorder_gone(const std::string& id);
  void scan();
  void adopt(const db::SessionRow& row);
  void apply_retention();
  void check_budget();
  uint64_t store_used_bytes() const;

  const snapshot::Store& store_;
  DaemonOptions options_;
  db::Catalog catalog_;
  ScopedFd signals_;
  std::map<std::string, Recorder> recorders_;  // by session id: the recorders watched
  std::map<std::string, Retry> retries_;
  std::vector<pid_t> unwatched_;  // recorders started without a pidfd (none, normally)
  std::optional<UserRequests> users_;
  std::atomic<bool> budget_due_ = false;  // a budget check waits for btrfs to free what was deleted
  // Retention runs beside the loop (a first pass over an old store is long), in slices of
  // the maintenance lock (db::SlicedLock), so recorders are still replaced at once.
  std::thread retention_;
  std::atomic<bool> retention_running_ = false, stopping_ = false;
};

int Daemon::run() {
  std::fprintf(stderr, "deja daemon: supervising the sessions of %s\n", store_.dir().c_str());
  if (users_)
    std::fprintf(stderr, "deja daemon: users of group %u may record through %s\n",
                 *options_.users_group, options_.service_socket.c_str());
  double next_scan = 0, next_retention = monotonic() + options_.retention_seconds;
  for (;;) {
    std::vector<pollfd> fds{{signals_.get(), POLLIN, 0}};
    std::vector<std::string> ids;
    for (auto& [id, r] : recorders_) {
      fds.push_back({r.pidfd.get(), POLLIN, 0});
      ids.push_back(id);
    }
    const size_t first_user_fd = fds.size();
    if (users_)
      for (int fd : users_->fds()) fds.push_back({fd, POLLIN, 0});
    int timeout = static_cast<int>(std::max(0.0, next_scan - monotonic()) * 1000);
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR)
      throw_errno("poll", "deja daemon");
    if ((fds[0].revents & POLLIN) && !handle_signals()) break;
    bool died = false;
    for (size_t i = 1; i < first_user_fd; ++i)
      if (fds[i].revents) recorder_gone(ids[i - 1]), died = true;
    for (size_t i = first_user_fd; i < fds.size(); ++i)
      if (fds[i].revents) users_->ready(fds[i].fd);
    // A recorder that died is replaced at once, not at the next scan.
    if (died || monotonic() >= next_scan) {
      scan();
      next_scan = monotonic() + options_.scan_seconds;
    }
    if (options_.retention_seconds > 0 && monotonic() >= next_retention && !retention_running_) {
      if (retention_.joinable()) retention_.join();
      retention_running_ = true;
      retention_ = std::thread([this] { apply_retention(); });
      next_retention = monotonic() + options_.retention_seconds;
    }
    if (budget_due_ && !retention_running_) check_budget();
  }
  stopping_ = true;
  if (retention_.joinable()) retention_.join();
  std::fprintf(stderr, "deja daemon: stopped; the recorders it started go on recording\n");
  return 0;
}

// False when asked to stop.
bool Daemon::handle_signals() {
  signalfd_siginfo info;
  bool go_on = true;
  while (::read(signals_.get(), &info, sizeof info) == sizeof info) {
    if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) go_on = false;
  }
  // Recorders this daemon started are reaped through their pidfds (recorder_gone), which
  // tells how they ended; only those it could not watch are reaped here.
  for (auto it = unwatched_.begin(); it != unwatched_.end();)
    it = ::waitpid(*it, nullptr, WNOHANG) == *it ? unwatched_.erase(it) : std::next(it);
  return go_on;
}

void Daemon::recorder_gone(const std::string& id) {
  auto it = recorders_.find(id);
  bool failed = false;
  if (it->second.ours) {
    siginfo_t info{};
    ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(it->second.pidfd.get()), &info,
             WEXITED);
    // An attach that refused or crashed on its own as it started is retried ever later, not
    // in a tight loop; a recorder killed (SIGKILL: the OOM killer, kill -9) is replaced at
    // once.
    bool quick = monotonic() - it->second.started < 5;
    failed = (info.si_code == CLD_EXITED && info.si_status != 0) ||
             (quick && info.si_code != CLD_EXITED && info.si_status != SIGKILL);
  }
  if (failed) {
    Retry& r = retries_[id];
    r.at = monotonic() + r.delay;
    r.delay = std::min(r.delay * 2, 60.0);
  } else {
    retries_.erase(id);
  }
  recorders_.erase(it);
}

void Daemon::scan() {
  for (const db::SessionRow& row : catalog_.sessions()) {
    if (row.state != "recording" && row.state != "paused") continue;
    if (recorders_.count(row.id)) continue;
    auto retry = retries_.find(row.id);
    if (retry != retries_.end() && monotonic() < retry->second.at) continue;
    std::string state = recorder::session_state(store_, row);
    if (state == "unrecorded") {
      adopt(row);
    } else if ((state == "recording" || state == "paused") && row.supervisor_pid) {
      Recorder r;
      r.pid = static_cast<pid_t>(*row.supervisor_pid);
      r.pidfd = pidfd_of(r.pid);
      if (r.pidfd) recorders_.emplace(row.id, std::move(r));
    } else if (state == "stopped") {
      // Its processes ended while no recorder was there to say so.
      catalog_.set_session_stopped(row.id, unix_now(), std::nullopt);
    }
  }
}

void Daemon::adopt(const db::SessionRow& row) {
  std::string log = store_.run_dir() + "/" + row.id + ".log";
  std::vector<std::string> words = {options_.deja_exe, "--store", store_.dir(), "attach", row.id};
  ScopedFd out(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!out) throw_errno("open", log);
  pid_t pid = spawn_in_own_session(words, out.get(), out.get());
  std::fprintf(stderr, "deja daemon: session %s has no recorder; attaching (pid %d, log %s)\n",
               row.id.c_str(), pid, log.c_str());
  Recorder r;
  r.pid = pid;
  r.pidfd = pidfd_of(pid);
  r.ours = true;
  r.started = monotonic();
  if (r.pidfd)
    recorders_.emplace(row.id, std::move(r));
  else
    unwatched_.push_back(pid);
}

uint64_t Daemon::store_used_bytes() const {
  snapshot::sync_filesystem(store_.root());  // statfs lags until btrfs commits
  struct statvfs fs {};
  if (::statvfs(store_.root().c_str(), &fs) != 0) throw_errno("statvfs", store_.root());
  return (fs.f_blocks - fs.f_bfree) * fs.f_frsize;
}

void Daemon::apply_retention() {
  struct Done {
    std::atomic<bool>& running;
    ~Done() { running = false; }
  } done{retention_running_};
  // A gc, compact or revive run by hand goes first; retention comes round again.
  auto lock = db::StoreLock::try_lock(store_.dir(), db::StoreLock::Mode::kExclusive);
  if (!lock) return;
  db::SlicedLock sliced(store_.dir(), "daemon retention", std::move(*lock), kSliceSeconds,
                        kPauseSeconds);
  auto between = [&] {
    if (stopping_) throw Error("the daemon stops");  // the rest at its next start
    return sliced.between();
  };
  try {
    db::Catalog catalog(store_.catalog_path());  // this thread's own connection
    double now = unix_now();
    auto report = recorder::collect_garbage(store_, catalog, options_.policy, now, false,
                                            [](size_t, size_t, const std::string&) {}, between);
    auto screen = recorder::remove_recordings(store_, catalog,
                                              now - options_.keep_screen_seconds, false);
    auto thinned = recorder::thin_recordings(store_, catalog, options_.policy, now, false, between);
    if (!report.deleted.empty() || !report.leftovers.empty() || screen.segments ||
        thinned.frames_removed || thinned.text_removed || report.rebased.images)
      std::fprintf(stderr,
                   "deja daemon: retention removed %zu checkpoints (%zu kept images rebased, "
                   "%.1f MiB), %zu leftovers, %zu screen segments; thinning removed %zu frames "
                   "(%.1f MiB, %zu segments rewritten, %zu removed) and %zu lines of text\n",
                   report.deleted.size(), report.rebased.images,
                   report.rebased.bytes_written / 1048576.0, report.leftovers.size(),
                   screen.segments, thinned.frames_removed, thinned.bytes_freed / 1048576.0,
                   thinned.segments_rewritten, thinned.segments_removed, thinned.text_removed);
  } catch (const std::exception& e) {
    if (stopping_)
      std::fprintf(stderr, "deja daemon: retention cut short as the daemon stops; the rest at "
                           "its next pass\n");
    else
      std::fprintf(stderr, "deja daemon: retention failed: %s\n", e.what());
  }
  budget_due_ = options_.budget_bytes > 0;
}

// Judged only once btrfs has freed the space of the snapshots deleted so far (it does so in
// the background, seconds later): judged earlier, the store looks over its budget and
// checkpoints the policy keeps would be shed for space that is already on its way back.
void Daemon::check_budget() {
  try {
    if (snapshot::subvolumes_being_cleaned(store_.root()) > 0) {
      snapshot::sync_filesystem(store_.root());  // which sets btrfs's cleaner going

      return;
    }
    if (store_used_bytes() <= options_.budget_bytes) {
      budget_due_ = false;
      return;
    }
    auto lock = db::StoreLock::try_lock(store_.dir(), db::StoreLock::Mode::kExclusive);
    if (!lock) return;  // a gc, compact or revive by hand; again at the next turn
    recorder::RecordingsReport screen;
    auto shed = recorder::shed_oldest(store_, catalog_, 0.1, &screen);
    std::fprintf(stderr,
                 "deja daemon: the store is over its budget of %llu MiB: removed the oldest "
                 "%zu checkpoints and %zu screen segments\n",
                 static_cast<unsigned long long>(options_.budget_bytes >> 20),
                 shed.deleted.size(), screen.segments);
    // Judged again once this is freed, until the store is within its budget.
    budget_due_ = !shed.deleted.empty() || screen.segments > 0;
  } catch (const std::exception& e) {
    budget_due_ = false;
    std::fprintf(stderr, "deja daemon: keeping the budget failed: %s\n", e.what());
  }
}

}  // namespace

int run_daemon(const snapshot::Store& store, const DaemonOptions& options) {
  return Daemon(store, options).run();
}

}  // namespace deja::service
