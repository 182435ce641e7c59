// A fanotify instance is not supported yet: the capture must fail naming the fd and what it
// is, and the instance must still report events afterwards.
#include <fcntl.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include "zdtm.h"

int main() {
  zdtm_init();
  int fan = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY);
  close(open("marked", O_CREAT | O_WRONLY, 0600));
  if (fan < 0 || fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN, AT_FDCWD, "marked") < 0)
    zdtm_fail("fanotify");
  zdtm_ready();
  zdtm_wait();
  close(open("marked", O_RDONLY));
  char buf[4096];
  if (read(fan, buf, sizeof buf) <= 0) zdtm_fail("mark lost after the refused capture");
  zdtm_pass("zdtm_unsupported_fanotify");
}
