// An inotify instance is not supported yet: the capture must fail naming the fd and what it
// is, and the watch must still report events afterwards.
#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "zdtm.h"

int main() {
  zdtm_init();
  int in = inotify_init1(IN_NONBLOCK);
  if (in < 0 || inotify_add_watch(in, ".", IN_CREATE) < 0) zdtm_fail("inotify");
  zdtm_ready();
  zdtm_wait();
  close(open("created", O_CREAT | O_WRONLY, 0600));
  char buf[4096];
  if (read(in, buf, sizeof buf) <= 0) zdtm_fail("watch lost after the refused capture");
  zdtm_pass("zdtm_unsupported_inotify");
}
