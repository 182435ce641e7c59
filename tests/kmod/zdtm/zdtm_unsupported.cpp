// State the engine refuses by name (docs/engine-support.md), one kind per run:
//   zdtm_unsupported seccomp | stopped | pidns | epoll_foreign | big_shm | foreign_pty |
//                    rights_epoll
// The capture must fail naming it, and this program must keep running unharmed: after the
// refused checkpoint it checks the state is still there.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtm.h"

// An allow-everything filter: the process has seccomp state, and nothing else changes.
static void use_seccomp(void) {
  struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog prog = {1, &allow};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
    zdtm_fail("seccomp filter");
}

// A child stopped by job control; once continued it exits 0.
static pid_t stopped_child(void) {
  pid_t child = fork();
  if (child == 0) {
    raise(SIGSTOP);
    _exit(0);
  }
  int st;
  if (waitpid(child, &st, WUNTRACED) != child || !WIFSTOPPED(st)) zdtm_fail("child not stopped");
  return child;
}

// A child in a new PID namespace, where it is PID 1 of its own grandchild's namespace.
static pid_t nested_pidns_child(int ready_pipe) {
  pid_t child = fork();
  if (child == 0) {
    if (unshare(CLONE_NEWPID) != 0) _exit(40);
    pid_t inner = fork();  // PID 1 of the nested namespace
    if (inner == 0) {
      char ok = getpid() == 1 ? 'y' : 'n';
      if (write(ready_pipe, &ok, 1) != 1) _exit(41);
      pause();
      _exit(0);
    }
    int st;
    waitpid(inner, &st, 0);
    _exit(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 0 : 42);
  }
  return child;
}

// An epoll instance watching the read end of a pipe this process has closed since: only a
// child still holds it (an epoll set watching another process's file).
static pid_t epoll_watching_foreign_file(int* epfd, int* write_end) {
  int p[2];
  if (pipe(p) != 0) zdtm_fail("pipe");
  *epfd = epoll_create1(0);
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = 77;
  if (epoll_ctl(*epfd, EPOLL_CTL_ADD, p[0], &ev) != 0) zdtm_fail("epoll_ctl");
  pid_t child = fork();
  if (child == 0) {
    zdtm_wait();
    _exit(0);
  }
  close(p[0]);
  *write_end = p[1];
  return child;
}

static void check_exit(pid_t child, const char* what) {
  int st;
  if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    zdtm_fail("%s: status %x", what, st);
}

int main(int argc, char** argv) {
  zdtm_init();
  const char* kind = argc > 1 ? argv[1] : "";
  if (strcmp(kind, "seccomp") == 0) {
    use_seccomp();
    zdtm_ready();
    zdtm_wait();
    if (prctl(PR_GET_SECCOMP) != SECCOMP_MODE_FILTER) zdtm_fail("seccomp mode lost");
  } else if (strcmp(kind, "stopped") == 0) {
    pid_t child = stopped_child();
    zdtm_ready();
    zdtm_wait();
    if (kill(child, SIGCONT) != 0) zdtm_fail("SIGCONT");
    check_exit(child, "stopped child");
  } else if (strcmp(kind, "pidns") == 0) {
    int p[2];
    if (pipe(p) != 0) zdtm_fail("pipe");
    pid_t child = nested_pidns_child(p[1]);
    char ok = 0;
    if (read(p[0], &ok, 1) != 1 || ok != 'y') zdtm_fail("no nested PID namespace");
    zdtm_ready();
    zdtm_wait();
    // A nested init takes only SIGKILL (or signals it handles) from outside its namespace.
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", child, child);
    FILE* f = fopen(path, "r");
    int inner = 0;
    if (!f || fscanf(f, "%d", &inner) != 1) zdtm_fail("nested init not found");
    fclose(f);
    if (kill(inner, SIGKILL) != 0) zdtm_fail("kill nested init");
    check_exit(child, "nested namespace");
  } else if (strcmp(kind, "epoll_foreign") == 0) {
    int epfd, write_end;
    pid_t child = epoll_watching_foreign_file(&epfd, &write_end);
    zdtm_ready();
    zdtm_wait();
    if (write(write_end, "x", 1) != 1) zdtm_fail("write");
    struct epoll_event ev = {};
    if (epoll_wait(epfd, &ev, 1, 5000) != 1 || ev.data.u64 != 77) zdtm_fail("epoll lost its watch");
    kill(child, SIGUSR1);
    check_exit(child, "pipe holder");
  } else if (strcmp(kind, "big_shm") == 0) {
    // 256 MiB of System V shared memory: more than one image record holds.
    size_t size = 256u << 20;
    int id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
    char* seg = id < 0 ? NULL : (char*)shmat(id, NULL, 0);
    if (!seg || seg == (char*)-1) zdtm_fail("shmget/shmat");
    seg[size - 1] = 'z';
    zdtm_ready();
    zdtm_wait();
    if (seg[size - 1] != 'z') zdtm_fail("segment changed");
    shmctl(id, IPC_RMID, NULL);
  } else if (strcmp(kind, "foreign_pty") == 0) {
    // A pseudo-terminal of a devpts instance mounted elsewhere than the session's /dev/pts:
    // a branch makes only the session's anew, so the capture refuses it as a device.
    char dir[] = "/tmp/zdtm-devpts-XXXXXX";
    if (!mkdtemp(dir) || mount("devpts", dir, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666"))
      zdtm_fail("mount a second devpts instance");
    char ptmx[64];
    snprintf(ptmx, sizeof ptmx, "%s/ptmx", dir);
    int m = open(ptmx, O_RDWR | O_NOCTTY);
    if (m < 0) zdtm_fail("open %s", ptmx);
    zdtm_ready();
    zdtm_wait();
    unsigned index = 99;
    if (ioctl(m, TIOCGPTN, &index) != 0 || index != 0) zdtm_fail("the pty is not what it was");
    close(m);
    umount2(dir, MNT_DETACH);
    rmdir(dir);
  } else if (strcmp(kind, "rights_epoll") == 0) {
    // An epoll instance sent over a socketpair (SCM_RIGHTS) and closed by its sender: open
    // nowhere in the session but in the queue.
    int sv[2];
    int file = epoll_create1(EPOLL_CLOEXEC);
    if (file < 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, sv)) zdtm_fail("epoll/socketpair");
    char byte = 'f';
    struct iovec iov = {&byte, 1};
    char control[CMSG_SPACE(sizeof(int))] = {};
    struct msghdr m = {};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    struct cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &file, sizeof file);
    if (sendmsg(sv[1], &m, 0) != 1) zdtm_fail("sendmsg");
    close(file);
    zdtm_ready();
    zdtm_wait();
    m.msg_controllen = sizeof control;
    if (recvmsg(sv[0], &m, 0) != 1 || !CMSG_FIRSTHDR(&m) ||
        CMSG_FIRSTHDR(&m)->cmsg_type != SCM_RIGHTS)
      zdtm_fail("the epoll in flight is lost");
  } else {
    zdtm_fail(
        "usage: zdtm_unsupported "
        "seccomp|stopped|pidns|epoll_foreign|big_shm|foreign_pty|rights_epoll");
  }
  printf("PASS zdtm_unsupported %s\n", kind);
  return 0;
}
