// Daemons left to init inside another session, as a desktop makes them (GTK starts
// at-spi-bus-launcher, whose parent exits): one in a session whose leader still runs, one in a
// session whose leader has exited, both now children of init (the program runs as init in the
// engine's harness and as init's child under `deja record`). Each keeps its PID, parent,
// session and group, and writes its verdict to a pipe.
#include <sys/wait.h>
#include <unistd.h>

#include "zdtm.h"

static int g_verdicts = -1;  // each checker writes one byte: 'P' or the letter of what failed

[[noreturn]] static void verdict(char v) {
  if (write(g_verdicts, &v, 1) != 1) _exit(3);
  _exit(0);
}

// Waits to be handed to init, checks nothing changes across the revive.
[[noreturn]] static void daemon_body(int report_fd, pid_t expected_sid, bool own_group) {
  if (own_group) setpgid(0, 0);
  while (getppid() != 1) usleep(1000);
  Ids before = ids();
  if (before.sid != expected_sid) verdict('s');
  pid_t me = getpid();
  if (write(report_fd, &me, sizeof me) != sizeof me) verdict('w');
  close(report_fd);
  zdtm_wait();
  verdict(same(before, ids()) ? 'P' : 'd');
}

// Forks a daemon through a go-between that exits, from a new session's leader. With
// `leader_stays`, the leader then waits for SIGUSR1 and checks itself; otherwise it exits.
[[noreturn]] static void leader_body(int report_fd, bool leader_stays) {
  setsid();
  pid_t between = fork();
  if (between == 0) {
    if (fork() == 0) daemon_body(report_fd, getsid(0), !leader_stays);
    _exit(0);
  }
  int st;
  if (waitpid(between, &st, 0) != between || st != 0) verdict('b');
  if (!leader_stays) _exit(0);
  close(report_fd);
  Ids before = ids();
  zdtm_wait();
  verdict(same(before, ids()) ? 'P' : 'l');
}

int main() {
  zdtm_init();
  int report[2], verdicts[2];
  if (pipe(report) < 0 || pipe(verdicts) < 0) zdtm_fail("pipe");
  g_verdicts = verdicts[1];
  pid_t leader = fork();
  if (leader == 0) leader_body(report[1], true);
  pid_t gone = fork();
  if (gone == 0) leader_body(report[1], false);
  close(report[1]);
  close(verdicts[1]);
  int st;
  if (waitpid(gone, &st, 0) != gone || st != 0) zdtm_fail("the leader that exits: status %x", st);
  pid_t daemons[2];
  for (pid_t& d : daemons)
    if (read(report[0], &d, sizeof d) != sizeof d) zdtm_fail("a daemon did not report");
  close(report[0]);
  for (pid_t d : daemons)
    if (getsid(d) == getsid(0)) zdtm_fail("daemon %d is in init's session", d);
  Ids before = ids();
  zdtm_ready();
  zdtm_wait();
  if (!same(before, ids())) zdtm_fail("init ids changed");
  pid_t checkers[] = {daemons[0], daemons[1], leader};
  for (pid_t p : checkers) kill(p, SIGUSR1);
  char got[4] = {};
  for (size_t n = 0; n < 3;) {
    ssize_t r = read(verdicts[0], got + n, 3 - n);
    if (r <= 0) zdtm_fail("only %zu of 3 verdicts (%s)", n, got);
    n += static_cast<size_t>(r);
  }
  if (strcmp(got, "PPP") != 0) zdtm_fail("verdicts %s (s: wrong session, d: daemon ids, l: leader ids)", got);
  if (waitpid(leader, &st, 0) != leader) zdtm_fail("waitpid leader");
  zdtm_pass("zdtm_adopted_session");
}
