// A named FIFO between two processes, with bytes in flight: the child holds the write end,
// the parent the read end and an O_RDWR descriptor; the FIFO keeps its name.
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtm.h"

int main() {
  zdtm_init();
  unlink("fifo");
  if (mkfifo("fifo", 0600) != 0) zdtm_fail("mkfifo");
  int rw = open("fifo", O_RDWR);
  int rd = open("fifo", O_RDONLY | O_NONBLOCK);
  if (write(rw, "queued before fork|", 19) != 19) zdtm_fail("write");
  pid_t child = fork();
  if (child == 0) {
    int wr = open("fifo", O_WRONLY);
    if (write(wr, "from the child|", 15) != 15) _exit(10);
    zdtm_wait();
    if (write(wr, "after revive", 12) != 12) _exit(11);
    _exit(0);
  }
  usleep(100000);
  zdtm_ready();
  zdtm_wait();
  char buf[128] = {};
  if (read(rd, buf, 34) != 34 || strcmp(buf, "queued before fork|from the child|") != 0)
    zdtm_fail("bytes in flight: '%s'", buf);
  if (!(fcntl(rd, F_GETFL) & O_NONBLOCK) || (fcntl(rw, F_GETFL) & O_ACCMODE) != O_RDWR)
    zdtm_fail("flags");
  kill(child, SIGUSR1);
  int st;
  if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    zdtm_fail("child %x", st);
  memset(buf, 0, sizeof buf);
  if (read(rd, buf, 12) != 12 || strcmp(buf, "after revive") != 0)
    zdtm_fail("later write: '%s'", buf);
  struct stat sb;
  if (stat("fifo", &sb) != 0 || !S_ISFIFO(sb.st_mode)) zdtm_fail("the FIFO lost its name");
  zdtm_pass("zdtm_fifo");
}
