// POSIX message queues: a queue with messages of several priorities (two of the same
// priority, whose order must hold), its limits, mode and O_NONBLOCK on one fd, open in
// parent and child (inherited, so one open file), and an empty second queue the child
// blocks on. After the revive the messages come out in the same order with their
// priorities, the attributes are kept, and the child wakes when the parent sends.
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtm.h"

static void expect(mqd_t q, const char* text, unsigned prio) {
  char buf[128];
  unsigned got = 0;
  ssize_t n = mq_receive(q, buf, sizeof buf, &got);
  if (n < 0) zdtm_fail("mq_receive: %s", strerror(errno));
  if ((size_t)n != strlen(text) || memcmp(buf, text, n) != 0 || got != prio)
    zdtm_fail("message \"%.*s\" priority %u, want \"%s\" priority %u", (int)n, buf, got, text,
              prio);
}

int main() {
  zdtm_init();
  umask(022);
  struct mq_attr attr = {0, 5, 128, 0, {0}};
  mqd_t q = mq_open("/zdtm-queue", O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0640, &attr);
  struct mq_attr small = {0, 2, 16, 0, {0}};
  mqd_t wake = mq_open("/zdtm-wake", O_RDWR | O_CREAT | O_EXCL, 0600, &small);
  if (q == (mqd_t)-1 || wake == (mqd_t)-1) zdtm_fail("mq_open: %s", strerror(errno));
  if (mq_send(q, "low", 3, 1) || mq_send(q, "high", 4, 9) || mq_send(q, "second low", 10, 1) ||
      mq_send(q, "", 0, 5))
    zdtm_fail("mq_send: %s", strerror(errno));

  pid_t child = fork();
  if (child == 0) {
    char buf[16];
    unsigned prio;
    ssize_t n;
    // The harness signals every process (SIGUSR1, caught): mq_receive is then interrupted.
    while ((n = mq_receive(wake, buf, sizeof buf, &prio)) < 0 && errno == EINTR) {
    }
    _exit(n == 4 && memcmp(buf, "wake", 4) == 0 && prio == 2 ? 0 : 30);
  }
  usleep(100000);
  zdtm_ready();
  zdtm_wait();

  struct mq_attr now;
  if (mq_getattr(q, &now) != 0) zdtm_fail("mq_getattr: %s", strerror(errno));
  if (now.mq_maxmsg != 5 || now.mq_msgsize != 128 || now.mq_curmsgs != 4 ||
      !(now.mq_flags & O_NONBLOCK))
    zdtm_fail("attributes: maxmsg %ld msgsize %ld curmsgs %ld flags %lx", now.mq_maxmsg,
              now.mq_msgsize, now.mq_curmsgs, now.mq_flags);
  struct stat st;
  if (fstat(q, &st) != 0 || (st.st_mode & 0777) != 0640) zdtm_fail("mode %o", st.st_mode);
  mqd_t again = mq_open("/zdtm-queue", O_RDONLY);  // the name still leads to it
  if (again == (mqd_t)-1) zdtm_fail("mq_open by name: %s", strerror(errno));
  expect(again, "high", 9);
  expect(q, "", 5);
  expect(q, "low", 1);
  expect(q, "second low", 1);
  char buf[128];
  if (mq_receive(q, buf, sizeof buf, NULL) != -1 || errno != EAGAIN) zdtm_fail("queue not empty");

  if (mq_send(wake, "wake", 4, 2) != 0) zdtm_fail("mq_send wake");
  int status;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    zdtm_fail("child status %x", status);
  mq_unlink("/zdtm-queue");
  mq_unlink("/zdtm-wake");
  zdtm_pass("zdtm_posix_mqueue");
}
