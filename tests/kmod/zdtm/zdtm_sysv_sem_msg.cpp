// System V semaphores and message queues: a keyed set of three semaphores with their values,
// a child blocked in semop on one of them, and two queues (keyed and private) holding
// messages of several types and lengths. After the revive the ids, keys, values, queue
// limits and messages (in order, with their types) must be there, and the child must wake
// when the parent posts the semaphore.
#include <errno.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtm.h"

union semun {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
};

static const key_t kSemKey = 0x5e5e0001, kMsgKey = 0x5e5e0002;

struct Msg {
  long type;
  char text[64];
};

static void send(int q, long type, const char* text, size_t len) {
  struct Msg m = {type, {0}};
  memcpy(m.text, text, len);
  if (msgsnd(q, &m, len, IPC_NOWAIT) != 0) zdtm_fail("msgsnd: %s", strerror(errno));
}

static void expect(int q, long type, const char* text, size_t len) {
  struct Msg m;
  ssize_t n = msgrcv(q, &m, sizeof m.text, 0, IPC_NOWAIT);
  if (n < 0) zdtm_fail("msgrcv: %s", strerror(errno));
  if (m.type != type || (size_t)n != len || memcmp(m.text, text, len) != 0)
    zdtm_fail("message type %ld length %zd, want type %ld \"%s\"", m.type, n, type, text);
}

int main() {
  zdtm_init();
  int sem = semget(kSemKey, 3, IPC_CREAT | IPC_EXCL | 0640);
  int q = msgget(kMsgKey, IPC_CREAT | IPC_EXCL | 0620);
  int priv = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  if (sem < 0 || q < 0 || priv < 0) zdtm_fail("semget/msgget: %s", strerror(errno));
  unsigned short values[3] = {5, 0, 42};
  union semun arg;
  arg.array = values;
  if (semctl(sem, 0, SETALL, arg) != 0) zdtm_fail("SETALL");
  struct msqid_ds qs;
  if (msgctl(q, IPC_STAT, &qs) != 0) zdtm_fail("msgctl IPC_STAT");
  qs.msg_qbytes = 4000;
  if (msgctl(q, IPC_SET, &qs) != 0) zdtm_fail("msgctl IPC_SET");
  send(q, 7, "first", 5);
  send(q, 2, "", 0);
  send(q, 7, "third, a little longer", 22);
  send(priv, 1, "private", 7);

  pid_t child = fork();
  if (child == 0) {
    struct sembuf wait_one = {1, -1, 0};  // blocks until the parent posts semaphore 1
    // The harness signals every process (SIGUSR1, caught): semop is then interrupted.
    int r;
    while ((r = semop(sem, &wait_one, 1)) != 0 && errno == EINTR) {
    }
    _exit(r == 0 ? 0 : 30);
  }
  usleep(100000);
  zdtm_ready();
  zdtm_wait();

  if (semget(kSemKey, 0, 0) != sem || msgget(kMsgKey, 0) != q) zdtm_fail("keys lost");
  unsigned short now[3] = {0, 0, 0};
  arg.array = now;
  if (semctl(sem, 0, GETALL, arg) != 0) zdtm_fail("GETALL");
  if (now[0] != 5 || now[1] != 0 || now[2] != 42)
    zdtm_fail("semaphore values %d %d %d", now[0], now[1], now[2]);
  struct semid_ds ss;
  arg.buf = &ss;
  if (semctl(sem, 0, IPC_STAT, arg) != 0 || (ss.sem_perm.mode & 0777) != 0640 || ss.sem_nsems != 3)
    zdtm_fail("semaphore set attributes");
  if (msgctl(q, IPC_STAT, &qs) != 0 || qs.msg_qbytes != 4000 || qs.msg_qnum != 3 ||
      (qs.msg_perm.mode & 0777) != 0620)
    zdtm_fail("queue attributes: qbytes %lu, %lu messages", (unsigned long)qs.msg_qbytes,
              (unsigned long)qs.msg_qnum);
  expect(q, 7, "first", 5);
  expect(q, 2, "", 0);
  expect(q, 7, "third, a little longer", 22);
  expect(priv, 1, "private", 7);

  struct sembuf post = {1, 1, 0};
  if (semop(sem, &post, 1) != 0) zdtm_fail("semop post");
  int status;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    zdtm_fail("child status %x", status);
  semctl(sem, 0, IPC_RMID);
  msgctl(q, IPC_RMID, NULL);
  msgctl(priv, IPC_RMID, NULL);
  zdtm_pass("zdtm_sysv_sem_msg");
}
