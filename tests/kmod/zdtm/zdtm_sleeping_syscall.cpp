// Threads and processes blocked in syscalls at the checkpoint: a read() on an empty pipe
// (restarted), a nanosleep() (resumed with the time left), a futex wait, and PID 1 itself in
// sigsuspend(). All must complete normally afterwards.
//
// The sleeper sleeps 4 s; "ready" comes 0.5 s after it started. It must wake when its 4 s of
// running time are over: the wall clock minus the time between its checkpoint and its revive
// (zdtm_paused()), so a
// revive that restarts the full sleep wakes at least 0.5 s late and one that drops the time
// left wakes early. The sleeper must still be asleep at the check: a copy checked (and so
// checkpointed) after it woke proves nothing and fails as "too late".
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zdtm.h"

static constexpr double kSleep = 4.0;
static constexpr double kEarly = 0.15;  // clock reads; a revived sleep resumes a little late
static constexpr double kLate = 0.2;    // wake-up latency on a loaded machine

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int flag = 0;

static void* waiter(void*) {
  pthread_mutex_lock(&mu);
  while (!flag) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  return reinterpret_cast<void*>(7);
}

int main() {
  zdtm_init();
  int p[2];
  if (pipe(p)) zdtm_fail("pipe");
  pid_t reader = fork();
  if (reader == 0) {
    char buf[16];
    ssize_t n = read(p[0], buf, sizeof buf);  // blocks until the parent writes
    _exit(n == 5 ? 0 : 20);
  }
  pid_t sleeper = fork();
  if (sleeper == 0) {
    zdtm_start_pause_meter();
    double start = zdtm_now();
    struct timespec t = {static_cast<time_t>(kSleep), 0}, rem;
    while (nanosleep(&t, &rem) != 0) t = rem;  // EINTR: sleep what is left
    double slept = zdtm_now() - start - zdtm_paused();
    bool early = slept<kSleep - kEarly, late = slept> kSleep + kLate;
    if (early || late) printf("sleeper: slept %.3f s of %.1f s\n", slept, kSleep);
    _exit(early ? 21 : late ? 22 : 0);
  }
  pthread_t th;
  pthread_create(&th, nullptr, waiter, nullptr);
  usleep(500000);  // let everyone block; a restarted sleep would show
  zdtm_ready();
  zdtm_wait();
  int st;
  if (waitpid(sleeper, &st, WNOHANG) != 0)
    zdtm_fail("too late: the sleeper had woken before the check (status %x)", st);
  if (write(p[1], "hello", 5) != 5) zdtm_fail("write");
  pthread_mutex_lock(&mu);
  flag = 1;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
  void* r;
  pthread_join(th, &r);
  if (r != reinterpret_cast<void*>(7)) zdtm_fail("futex waiter");
  if (waitpid(reader, &st, 0) != reader || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    zdtm_fail("reader status %x", st);
  if (waitpid(sleeper, &st, 0) != sleeper || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    zdtm_fail("sleeper woke %s (status %x)",
              WIFEXITED(st) && WEXITSTATUS(st) == 21   ? "early"
              : WIFEXITED(st) && WEXITSTATUS(st) == 22 ? "late: the full sleep again?"
                                                       : "wrongly",
              st);
  zdtm_pass("zdtm_sleeping_syscall");
}
