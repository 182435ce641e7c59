// Files unlinked while open or mapped: their contents, offsets and sharing between the fd
// and a shared mapping survive, and the names stay gone. One name is reused by a new file
// before the checkpoint, so the revive must not clobber it.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtm.h"

int main() {
  zdtm_init();
  int a = open("ghost-a", O_RDWR | O_CREAT | O_TRUNC, 0640);
  char big[20000];
  for (size_t i = 0; i < sizeof big; ++i) big[i] = static_cast<char>('a' + i % 26);
  if (write(a, big, sizeof big) != static_cast<ssize_t>(sizeof big)) zdtm_fail("write");
  lseek(a, 777, SEEK_SET);
  auto* map = static_cast<char*>(mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0));
  unlink("ghost-a");
  int b = open("ghost-b", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
  if (write(b, "first\n", 6) != 6) zdtm_fail("write");
  unlink("ghost-b");
  int reused = open("ghost-b", O_WRONLY | O_CREAT | O_TRUNC, 0644);  // a new file, same name
  if (write(reused, "new file\n", 9) != 9) zdtm_fail("write");
  close(reused);
  FILE* tmp = tmpfile();  // O_TMPFILE or unlinked, depending on the C library
  fputs("tmpfile data", tmp);
  fflush(tmp);

  zdtm_ready();
  zdtm_wait();

  struct stat st;
  if (fstat(a, &st) != 0 || st.st_size != static_cast<off_t>(sizeof big) || st.st_nlink != 0 ||
      (st.st_mode & 07777) != 0640)
    zdtm_fail("deleted file a: size %ld links %ld mode %o", static_cast<long>(st.st_size),
              static_cast<long>(st.st_nlink), st.st_mode & 07777);
  if (lseek(a, 0, SEEK_CUR) != 777) zdtm_fail("offset of a");
  char buf[sizeof big];
  if (pread(a, buf, sizeof buf, 0) != static_cast<ssize_t>(sizeof big) ||
      memcmp(buf, big, sizeof big))
    zdtm_fail("contents of a");
  if (memcmp(map, big, 8192) != 0) zdtm_fail("mapping of a");
  map[0] = 'Z';  // the mapping and the fd are still one file
  if (pread(a, buf, 1, 0) != 1 || buf[0] != 'Z') zdtm_fail("mapping and fd of a not shared");
  if (write(b, "second\n", 7) != 7) zdtm_fail("append to b");
  if (fstat(b, &st) != 0 || st.st_size != 13 || !(fcntl(b, F_GETFL) & O_APPEND)) zdtm_fail("b");
  int check = open("ghost-b", O_RDONLY);
  if (check < 0 || read(check, buf, 64) != 9 || memcmp(buf, "new file\n", 9) != 0)
    zdtm_fail("the new file named ghost-b was touched");
  if (access("ghost-a", F_OK) == 0) zdtm_fail("ghost-a reappeared");
  rewind(tmp);
  char line[32] = {};
  if (!fgets(line, sizeof line, tmp) || strcmp(line, "tmpfile data") != 0) zdtm_fail("tmpfile");
  zdtm_pass("zdtm_deleted_file");
}
