// Shared memory: a MAP_SHARED|MAP_ANONYMOUS region shared by parent and child, and a memfd
// (kept open as an fd, mapped shared, and mapped privately with a copied-on-write page).
// After the revive, writes through one mapping must still be seen through the others.
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtm.h"

int main() {
  zdtm_init();
  const size_t kShared = 1 << 20;
  auto* shared = static_cast<char*>(
      mmap(nullptr, kShared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  strcpy(shared, "written by the parent");
  strcpy(shared + 700000, "far into the region");

  int mfd = memfd_create("zdtm-memfd", 0);
  if (ftruncate(mfd, 10000) != 0) zdtm_fail("ftruncate");
  if (pwrite(mfd, "memfd contents", 14, 5000) != 14) zdtm_fail("pwrite");
  lseek(mfd, 123, SEEK_SET);
  auto* mshared =
      static_cast<char*>(mmap(nullptr, 12288, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0));
  auto* mprivate =
      static_cast<char*>(mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0));
  strcpy(mprivate, "private copy");  // COW: not in the memfd

  pid_t child = fork();
  if (child == 0) {
    strcpy(shared + 100, "written by the child");
    zdtm_wait();
    // The parent writes "ping" after its own revive; the child answers through the region.
    for (int i = 0; i < 500 && strcmp(shared + 200, "ping") != 0; ++i) usleep(10000);
    if (strcmp(shared + 200, "ping") != 0) _exit(31);
    strcpy(shared + 300, "pong");
    _exit(strcmp(shared, "written by the parent") == 0 ? 0 : 32);
  }
  usleep(100000);
  zdtm_ready();
  zdtm_wait();

  if (strcmp(shared, "written by the parent") || strcmp(shared + 100, "written by the child") ||
      strcmp(shared + 700000, "far into the region"))
    zdtm_fail("shared anonymous contents");
  if (memcmp(mshared + 5000, "memfd contents", 14) != 0) zdtm_fail("memfd mapping contents");
  if (strcmp(mprivate, "private copy") != 0) zdtm_fail("private COW page of the memfd");
  char buf[16] = {};
  if (pread(mfd, buf, 14, 5000) != 14 || memcmp(buf, "memfd contents", 14) != 0)
    zdtm_fail("memfd fd");
  if (pread(mfd, buf, 12, 0) != 12 || memcmp(buf, "private copy", 12) == 0)
    zdtm_fail("private write leaked into the memfd");
  if (lseek(mfd, 0, SEEK_CUR) != 123) zdtm_fail("memfd offset");
  struct stat st;
  if (fstat(mfd, &st) != 0 || st.st_size != 10000) zdtm_fail("memfd size");
  // The fd and the shared mapping are still one object.
  if (pwrite(mfd, "via fd", 6, 0) != 6 || memcmp(mshared, "via fd", 6) != 0)
    zdtm_fail("fd/mapping not shared");
  strcpy(shared + 200, "ping");
  kill(child, SIGUSR1);
  int status;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    zdtm_fail("child status %x", status);
  if (strcmp(shared + 300, "pong") != 0) zdtm_fail("no pong through shared memory");
  zdtm_pass("zdtm_shmem");
}
