#include "recorder/Supervisor.h"

#include <poll.h>
#include <signal.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "base/Error.h"
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

}  // namespace

Supervisor::Supervisor(const snapshot::Store& store, db::Catalog& catalog, const std::string& id,
                       Cgroup cgroup, ContainerInit init, double interval)
    : store_(store),
      catalog_(catalog),
      id_(id),
      cgroup_(std::move(cgroup)),
      init_(std::move(init)),
      control_(store.dir(), id),
      checkpointer_(store, catalog, cgroup_, id, init_.pid),
      timer_(make_timer(interval)) {}

int Supervisor::run(const std::function<void()>& on_end) {
  while (!init_exited_) {
    pollfd fds[3] = {
        {init_.pidfd.get(), POLLIN, 0}, {control_.fd(), POLLIN, 0}, {timer_.get(), POLLIN, 0}};
    int n = ::poll(fds, timer_ ? 3 : 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll", "recorder of session " + id_);
    }
    if (fds[0].revents) reap_init();
    if (!init_exited_ && (fds[1].revents & POLLIN)) serve_request();
    if (!init_exited_ && timer_ && (fds[2].revents & POLLIN)) on_tick();
  }
  // Processes left in the group after init died are killed by the kernel; wait for that.
  for (int i = 0; i < 200 && !cgroup_.empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  try {
    cgroup_.remove();
    remove_exec_cgroup(id_);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "deja: %s\n", e.what());
  }
  on_end();
  // The row says "stopped" before the socket goes, so no reader ever sees a stopped session
  // without its exit status.
  catalog_.set_session_stopped(id_, unix_now(), exit_status_);
  control_.close();
  for (auto& req : stop_requests_) ControlServer::reply(req, "ok");
  return exit_status_;
}

int Supervisor::reap_init() {
  siginfo_t info{};
  if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(init_.pidfd.get()), &info,
               WEXITED | WNOHANG) != 0)
    throw_errno("waitid", "session init " + std::to_string(init_.pid));
  if (info.si_pid == 0) return exit_status_;  // spurious wake-up
  init_exited_ = true;
  exit_status_ = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
  // We are a subreaper; anything else that ended is ours to reap too.
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  return exit_status_;
}

void Supervisor::serve_request() {
  auto req = control_.accept_request();
  if (!req) return;
  if (req->text == "ping") {
    ControlServer::reply(*req, "ok");
  } else if (req->text == "checkpoint") {
    try {
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
    checkpointer_.take();
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
