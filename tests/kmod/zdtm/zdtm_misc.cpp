// Process attributes: comm, nice, CPU affinity, rlimits, the child-subreaper and dumpable flags,
// no_new_privs, personality, and credentials (the program drops to uid/gid 1000).
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "zdtm.h"

int main() {
  zdtm_init();
  prctl(PR_SET_NAME, "zdtm-renamed");
  struct rlimit nofile = {512, 900};
  setrlimit(RLIMIT_NOFILE, &nofile);
  struct rlimit stack = {4 << 20, RLIM_INFINITY};
  setrlimit(RLIMIT_STACK, &stack);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  personality(ADDR_NO_RANDOMIZE);
  if (setpriority(PRIO_PROCESS, 0, 5) != 0) zdtm_fail("setpriority");
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  if (sched_setaffinity(0, sizeof one, &one) != 0) zdtm_fail("sched_setaffinity");
  if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000)) zdtm_fail("drop privileges");
  prctl(PR_SET_DUMPABLE, 1);
  zdtm_ready();
  zdtm_wait();
  char name[32] = {};
  prctl(PR_GET_NAME, name);
  if (strcmp(name, "zdtm-renamed") != 0) zdtm_fail("comm is %s", name);
  struct rlimit r;
  getrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur != 512 || r.rlim_max != 900) zdtm_fail("RLIMIT_NOFILE");
  getrlimit(RLIMIT_STACK, &r);
  if (r.rlim_cur != 4 << 20 || r.rlim_max != RLIM_INFINITY) zdtm_fail("RLIMIT_STACK");
  int sub = 0;
  prctl(PR_GET_CHILD_SUBREAPER, &sub);
  if (sub != 1) zdtm_fail("subreaper");
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) zdtm_fail("no_new_privs");
  if (prctl(PR_GET_DUMPABLE) != 1) zdtm_fail("dumpable");
  if (personality(0xffffffff) != ADDR_NO_RANDOMIZE) zdtm_fail("personality");
  errno = 0;
  if (getpriority(PRIO_PROCESS, 0) != 5 || errno) zdtm_fail("nice");
  cpu_set_t now;
  if (sched_getaffinity(0, sizeof now, &now) != 0 || !CPU_EQUAL(&now, &one)) zdtm_fail("affinity");
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  getresuid(&ru, &eu, &su);
  getresgid(&rg, &eg, &sg);
  if (ru != 1000 || eu != 1000 || su != 1000 || rg != 1000 || eg != 1000 || sg != 1000)
    zdtm_fail("credentials");
  zdtm_pass("zdtm_misc");
}
