// Files: offsets, access modes, O_APPEND, close-on-exec, /dev/null and /dev/zero, a
// directory fd, the working directory and the umask.
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtm.h"

int main() {
  zdtm_init();
  mkdir("sub", 0755);
  int rw = open("sub/data", O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (write(rw, "0123456789abcdefghij", 20) != 20) zdtm_fail("write");
  lseek(rw, 7, SEEK_SET);
  int ap = open("sub/append", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (write(ap, "one\n", 4) != 4) zdtm_fail("write");
  int ro = open("sub/data", O_RDONLY);
  lseek(ro, 15, SEEK_SET);
  int null = open("/dev/null", O_WRONLY);
  int zero = open("/dev/zero", O_RDONLY);
  int dir = open("sub", O_RDONLY | O_DIRECTORY);
  int high = fcntl(rw, F_DUPFD, 40);  // a high fd number (sharing: zdtm_file_sharing)
  if (chdir("sub") != 0) zdtm_fail("chdir");
  umask(027);

  zdtm_ready();
  zdtm_wait();

  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd) || strcmp(strrchr(cwd, '/'), "/sub") != 0)
    zdtm_fail("cwd is %s", cwd);
  mode_t m = umask(0);
  if (m != 027) zdtm_fail("umask is %o", m);
  if (lseek(rw, 0, SEEK_CUR) != 7) zdtm_fail("rw offset");
  if ((fcntl(rw, F_GETFL) & O_ACCMODE) != O_RDWR) zdtm_fail("rw mode");
  char buf[8] = {};
  if (read(rw, buf, 3) != 3 || memcmp(buf, "789", 3) != 0) zdtm_fail("rw data");
  if (!(fcntl(ap, F_GETFL) & O_APPEND) || !(fcntl(ap, F_GETFD) & FD_CLOEXEC))
    zdtm_fail("append flags");
  if (fcntl(rw, F_GETFD) & FD_CLOEXEC) zdtm_fail("cloexec appeared on rw");
  if (write(ap, "two\n", 4) != 4) zdtm_fail("append write");
  if (lseek(ro, 0, SEEK_CUR) != 15 || (fcntl(ro, F_GETFL) & O_ACCMODE) != O_RDONLY)
    zdtm_fail("ro fd");
  if (write(null, "x", 1) != 1) zdtm_fail("/dev/null");
  if (read(zero, buf, 4) != 4 || buf[0] || buf[3]) zdtm_fail("/dev/zero");
  struct stat st;
  if (fstat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) zdtm_fail("dir fd");
  if (fcntl(high, F_GETFL) < 0) zdtm_fail("fd 40 missing");
  int fresh = open("data", O_RDONLY);
  char all[32] = {};
  if (read(fresh, all, 31) != 20) zdtm_fail("file contents");
  int apr = open("append", O_RDONLY);
  if (read(apr, all, 31) != 8 || memcmp(all, "one\ntwo\n", 8) != 0) zdtm_fail("append contents");
  zdtm_pass("zdtm_files");
}
