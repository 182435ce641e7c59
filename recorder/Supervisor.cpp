#include "recorder/Supervisor.h"

#include <poll.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "base/Error.h"
#include "base/Files.h"
#include "db/StoreLock.h"
#include "base/Time.h"

namespace deja::recorder {

namespace {

ScopedFd make_timer(double interval) {
  if (interval <= 0) return ScopedFd();
  ScopedFd fd(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!fd) throw_errno("timerfd_create", "checkpoint cadence");
  itimerspec spec{};
  spec.it_interval.tv_sec = static_cast<time_t>(interval);
  spec.it_interval.tv_nsec = static_cast<long>(std::fmod(interval, 1.0) * 1e9);
  spec.it_value = spec.it_interval;
  if (::timerfd_settime(fd.get(), 0, &spec, nullptr) != 0)
    throw_errno("timerfd_settime", "checkpoint cadence");
  return fd;
}

bool wait_readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) > 0;
}

int64_t monotonic_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The status deja-init leaves in the session's files as it exits (older sessions' inits
// leave none).
std::optional<int> status_left_by_init(const std::string& files) {
  try {
    ScopedFd fd(open_regular_beneath(files, "run/deja/exit-status"));
    return std::stoi(read_all(fd.get()));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::string heartbeat_path(const snapshot::Store& store, const std::string& id) {
  return store.run_dir() + "/" + id + ".alive";
}

Supervisor::Supervisor(const snapshot::Store& store, db::Catalog& catalog, const std::string& id,
                       Cgroup cgroup, ContainerInit init, double interval, bool adopted)
    : store_(store),
      catalog_(catalog),
      id_(id),
      cgroup_(std::move(cgroup)),
      init_(std::move(init)),
      control_(store.dir(), id),
      checkpointer_(store, catalog, cgroup_, id, init_.pid),
      timer_(make_timer(interval)),
      adopted_(adopted),
      heartbeat_(heartbeat_path(store, id)) {}

void Supervisor::beat() {
  int64_t now = monotonic_seconds();
  if (now == last_beat_) return;
  last_beat_ = now;
  // Only the time matters; a failure (a full disk) must not stop recording.
  ScopedFd fd(::open(heartbeat_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  if (fd) ::futimens(fd.get(), nullptr);
  watch_space();
}

void Supervisor::watch_space() {
  // Once a second the store's image grows if it runs low, before the session or a
  // checkpoint meets a full btrfs; a store that cannot grow is said once, not every second.
  std::optional<snapshot::Room> room;
  std::string why;
  try {
    room = store_.make_room();
  } catch (const std::exception& e) {
    why = e.what();
  }
  if (room == room_) return;
  room_ = room;
  if (room == snapshot::Room::grown)
    std::fprintf(stderr, "deja: session %s: the store's image has grown to make room\n",
                 id_.c_str());
  else if (room == snapshot::Room::exhausted)
    std::fprintf(stderr,
                 "deja: session %s: the store is nearly full and cannot grow (its host file "
                 "system keeps a reserve, or the store's limit is reached): checkpoints fail "
                 "until space is freed (deja df, deja gc, deja rm; docs/storage.md)\n",
                 id_.c_str());
  else if (!room)
    std::fprintf(stderr, "deja: session %s: %s\n", id_.c_str(), why.c_str());
}

int Supervisor::run(const SupervisorHooks& hooks) {
  hooks_ = &hooks;
  // An adopted session has gone unrecorded for a while: checkpoint it at once.
  if (adopted_ && timer_ && !paused_) checkpoint_if_changed();
  while (!init_exited_) {
    beat();
    pollfd fds[3] = {
        {init_.pidfd.get(), POLLIN, 0}, {control_.fd(), POLLIN, 0}, {timer_.get(), POLLIN, 0}};
    int n = ::poll(fds, timer_ ? 3 : 2, 1000);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll", "recorder of session " + id_);
    }
    if (fds[0].revents) reap_init();
    if (!init_exited_ && (fds[1].revents & POLLIN)) serve_request();
    if (!init_exited_ && timer_ && (fds[2].revents & POLLIN)) on_tick();
  }
  // Every checkpoint taken is committed (or dropped) before the session is marked stopped.
  checkpointer_.finish();
  // Processes left in the group after init died are killed by the kernel; wait for that.
  for (int i = 0; i < 200 && !cgroup_.empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  try {
    cgroup_.remove();
    remove_exec_cgroup(id_);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "deja: %s\n", e.what());
  }
  if (hooks.on_end) hooks.on_end();
  double now = unix_now();
  if (paused_) catalog_.close_gaps(id_, "paused", now);
  // The row says "stopped" before the socket goes, so no reader ever sees a stopped session
  // without its exit status.
  catalog_.set_session_stopped(id_, now, exit_status_);
  control_.close();
  ::unlink(heartbeat_.c_str());
  for (auto& req : stop_requests_) ControlServer::reply(req, "ok");
  hooks_ = nullptr;
  return exit_status_.value_or(0);
}

void Supervisor::reap_init() {
  if (adopted_) {
    // Not our child: its parent now is the host's init (or a subreaper), which reaps it; a
    // readable pidfd means it has exited, and it left its status in the session's files.
    if (!wait_readable(init_.pidfd.get(), 0)) return;
    init_exited_ = true;
    exit_status_ = status_left_by_init(store_.session_subvolume(id_));
    return;
  }
  siginfo_t info{};
  if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(init_.pidfd.get()), &info,
               WEXITED | WNOHANG) != 0)
    throw_errno("waitid", "session init " + std::to_string(init_.pid));
  if (info.si_pid == 0) return;  // spurious wake-up
  init_exited_ = true;
  exit_status_ = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
  // We are a subreaper; anything else that ended is ours to reap too.
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

void Supervisor::set_paused(bool paused) {
  if (paused == paused_) return;
  double now = unix_now();
  if (paused) {
    catalog_.add_gap({id_, now, std::nullopt, "paused"});
    catalog_.set_session_state(id_, "paused");
  } else {
    catalog_.close_gaps(id_, "paused", now);
    catalog_.set_session_state(id_, "recording");
  }
  paused_ = paused;
  if (hooks_ && hooks_->on_pause) hooks_->on_pause(paused);
}

void Supervisor::serve_request() {
  auto req = control_.accept_request();
  if (!req) return;
  if (req->text == "ping") {
    ControlServer::reply(*req, "ok");
  } else if (req->text == "pause" || req->text == "resume") {
    try {
      set_paused(req->text == "pause");
      ControlServer::reply(*req, "ok");
    } catch (const std::exception& e) {
      ControlServer::reply(*req, std::string("error ") + req->text + " of session " + id_ +
                                     " failed: " + e.what());
    }
  } else if (req->text == "checkpoint") {
    if (paused_) {
      ControlServer::reply(*req, "error session " + id_ +
                                     " is paused: nothing is recorded until deja resume " + id_);
      return;
    }
    try {
      // Not waited for: gc asks every recorder whether it lives, and this loop must answer.
      auto lock = db::StoreLock::try_lock(store_.dir(), db::StoreLock::Mode::kShared);
      if (!lock)
        throw Error("a gc, compact or rm runs on this store; try again when it has finished");
      db::CheckpointRow row = checkpointer_.take();
      ControlServer::reply(*req, "ok " + std::to_string(row.crid.value));
    } catch (const std::exception& e) {
      ControlServer::reply(
          *req, std::string("error checkpoint of session ") + id_ + " failed: " + e.what());
    }
  } else if (req->text == "stop") {
    stop_processes();
    // Answered once the session is fully stopped, so the caller sees the final state.
    stop_requests_.push_back(std::move(*req));
  } else {
    ControlServer::reply(*req, "error unknown request '" + req->text + "'");
  }
}

void Supervisor::on_tick() {
  uint64_t expirations = 0;
  if (::read(timer_.get(), &expirations, sizeof expirations) < 0) return;
  if (expirations > 1)
    // The last checkpoint's write-back outlasted the interval: the ticks missed meanwhile
    // become this one checkpoint instead of a queue that could only grow.
    std::fprintf(stderr,
                 "deja: session %s: write-back fell behind; %llu checkpoint ticks coalesced "
                 "into one\n",
                 id_.c_str(), static_cast<unsigned long long>(expirations));
  if (!paused_) checkpoint_if_changed();
}

void Supervisor::checkpoint_if_changed() {
  // A failure that repeats (an unsupported fd fails every tick the same way) is retried
  // ever less often, up to every kMaxBackoff ticks: each try arms and copies ahead for nothing.
  constexpr int kMaxBackoff = 16;
  if (ticks_to_skip_ > 0) {
    --ticks_to_skip_;
    return;
  }
  try {
    // Nothing changed, nothing to record: the cadence costs a flush, a look at each process's
    // written-page bits and one ioctl.
    if (!checkpointer_.session_changed()) return;
    // While gc, compact or rm runs, the cadence waits for a later tick.
    auto lock = db::StoreLock::try_lock(store_.dir(), db::StoreLock::Mode::kShared);
    if (!lock) return;
    // The image is written and committed in the background, beside the next ticks; the
    // lock goes with it until it is committed.
    checkpointer_.take(Checkpointer::Commit::background, std::move(*lock));
    last_tick_error_.clear();
    backoff_ = 1;
  } catch (const std::exception& e) {
    if (last_tick_error_ == e.what()) {
      backoff_ = std::min(2 * backoff_, kMaxBackoff);
      ticks_to_skip_ = backoff_ - 1;
      return;
    }
    last_tick_error_ = e.what();
    backoff_ = 1;
    std::fprintf(stderr,
                 "deja: session %s: periodic checkpoint failed: %s (while it keeps failing so, "
                 "retried less often, at least every %d ticks)\n",
                 id_.c_str(), e.what(), kMaxBackoff);
  }
}

void Supervisor::stop_processes() {
  for (pid_t p : cgroup_.procs()) ::kill(p, SIGTERM);
  if (!wait_readable(init_.pidfd.get(), 3000)) cgroup_.kill_all();
  while (!init_exited_) {
    wait_readable(init_.pidfd.get(), 1000);
    reap_init();
  }
}

}  // namespace deja::recorder
