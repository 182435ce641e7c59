// Threads and processes blocked in syscalls at the checkpoint: a read() on an empty pipe
// (restarted), a nanosleep() (resumed with the time left), a futex wait, and PID 1 itself in
// sigsuspend(). All must complete normally afterwards.
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zdtm.h"

static double now() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

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
    double start = now();
    struct timespec t = {1, 500000000}, rem;
    while (nanosleep(&t, &rem) != 0) t = rem;  // EINTR: sleep what is left
    _exit(now() - start >= 1.4 ? 0 : 21);
  }
  pthread_t th;
  pthread_create(&th, nullptr, waiter, nullptr);
  usleep(200000);  // let everyone block
  zdtm_ready();
  zdtm_wait();
  if (write(p[1], "hello", 5) != 5) zdtm_fail("write");
  pthread_mutex_lock(&mu);
  flag = 1;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
  void* r;
  pthread_join(th, &r);
  if (r != reinterpret_cast<void*>(7)) zdtm_fail("futex waiter");
  int st;
  if (waitpid(reader, &st, 0) != reader || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    zdtm_fail("reader status %x", st);
  if (waitpid(sleeper, &st, 0) != sleeper || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    zdtm_fail("sleeper status %x", st);
  zdtm_pass("zdtm_sleeping_syscall");
}
