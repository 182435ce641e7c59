// Fds that share one open file description: a dup() in the same process and an fd a child
// inherited through fork(). They share the offset and the status flags, so a seek or an
// fcntl(F_SETFL) through one is seen through the other, in every copy.
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtm.h"

// Whether `a` and `b` move together: seeking `a` moves `b`.
static int share_offset(int a, int b, off_t to) {
  return lseek(a, to, SEEK_SET) == to && lseek(b, 0, SEEK_CUR) == to;
}

int main() {
  zdtm_init();
  int fd = open("data", O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, "0123456789abcdefghij", 20) != 20) zdtm_fail("write");
  lseek(fd, 5, SEEK_SET);
  int dup_fd = dup(fd);
  // The child checks its inherited fd against the parent's through the offset they share:
  // the parent seeks, then tells the child over a pipe what offset to expect.
  int go[2], done[2];
  if (pipe(go) != 0 || pipe(done) != 0) zdtm_fail("pipe");
  pid_t child = fork();
  if (child == 0) {
    char want;
    if (read(go[0], &want, 1) != 1) _exit(30);
    off_t at = lseek(fd, 0, SEEK_CUR);
    char ok = at == want ? 'y' : 'n';
    if (write(done[1], &ok, 1) != 1) _exit(31);
    _exit(0);
  }

  zdtm_ready();
  zdtm_wait();

  if (lseek(fd, 0, SEEK_CUR) != 5 || lseek(dup_fd, 0, SEEK_CUR) != 5) zdtm_fail("offset lost");
  if (!share_offset(fd, dup_fd, 11) || !share_offset(dup_fd, fd, 3))
    zdtm_fail("a dup()ed fd no longer shares the offset of its original");
  if (fcntl(fd, F_SETFL, O_APPEND) != 0 || !(fcntl(dup_fd, F_GETFL) & O_APPEND))
    zdtm_fail("a dup()ed fd no longer shares the status flags of its original");
  char want = 17;
  lseek(fd, want, SEEK_SET);
  char ok = 0;
  if (write(go[1], &want, 1) != 1 || read(done[0], &ok, 1) != 1) zdtm_fail("child pipe");
  if (ok != 'y') zdtm_fail("a child's inherited fd no longer shares its parent's offset");
  int st;
  if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    zdtm_fail("child status %x", st);
  zdtm_pass("zdtm_file_sharing");
}
