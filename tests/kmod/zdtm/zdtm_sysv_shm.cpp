// System V shared memory: a keyed segment attached in parent and child (and once more
// read-only in the parent), a private one marked removed while both still have it attached
// (as X clients do for MIT-SHM), one nobody has attached, and one split by mprotect. After
// the revive each must have its id, key, size, permissions and contents, be shared again,
// and the removed one must go away with its last detach.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtm.h"

static const key_t kKey = 0x5a5a0001, kIdleKey = 0x5a5a0002;
static const size_t kSize = 3 * 4096 + 100;

static char* attach(int id, const void* at, int flags) {
  char* p = (char*)shmat(id, at, flags);
  if (p == (char*)-1) zdtm_fail("shmat %d: %s", id, strerror(errno));
  return p;
}

// The /proc/self/maps permissions of the mapping at `addr` ("rw-s"...).
static void check_perms(const void* addr, const char* want) {
  FILE* f = fopen("/proc/self/maps", "r");
  char line[512];
  unsigned long start, end;
  char perms[8];
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3 && start == (unsigned long)addr) {
      fclose(f);
      if (strcmp(perms, want) != 0) zdtm_fail("mapping %p is %s, want %s", addr, perms, want);
      return;
    }
  zdtm_fail("no mapping at %p", addr);
}

static void check_stat(int id, size_t size, unsigned mode, int dest, int nattch, const char* what) {
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) != 0) zdtm_fail("%s: IPC_STAT: %s", what, strerror(errno));
  if (ds.shm_segsz != size) zdtm_fail("%s: size %zu", what, (size_t)ds.shm_segsz);
  if ((ds.shm_perm.mode & 0777) != mode) zdtm_fail("%s: mode %o", what, ds.shm_perm.mode);
  if (!!(ds.shm_perm.mode & SHM_DEST) != dest) zdtm_fail("%s: removed state lost", what);
  if ((int)ds.shm_nattch != nattch)
    zdtm_fail("%s: %d attaches, want %d", what, (int)ds.shm_nattch, nattch);
}

int main() {
  zdtm_init();
  int keyed = shmget(kKey, kSize, IPC_CREAT | IPC_EXCL | 0640);
  int removed = shmget(IPC_PRIVATE, 2 * 4096, IPC_CREAT | 0600);
  int idle = shmget(kIdleKey, 4096, IPC_CREAT | IPC_EXCL | 0604);
  int split = shmget(IPC_PRIVATE, 4 * 4096, IPC_CREAT | 0600);
  if (keyed < 0 || removed < 0 || idle < 0 || split < 0) zdtm_fail("shmget: %s", strerror(errno));
  char* shared = attach(keyed, NULL, 0);
  char* view = attach(keyed, NULL, SHM_RDONLY);
  char* gone = attach(removed, NULL, 0);
  char* pieces = attach(split, NULL, 0);
  char* idle_mem = attach(idle, NULL, 0);
  strcpy(idle_mem, "nobody attached");
  shmdt(idle_mem);
  strcpy(shared, "written by the parent");
  strcpy(shared + 3 * 4096 + 50, "in the last page");
  strcpy(gone + 4096 + 10, "removed but attached");
  strcpy(pieces + 2 * 4096, "third page");
  if (mprotect(pieces + 4096, 4096, PROT_READ) != 0) zdtm_fail("mprotect");

  pid_t child = fork();
  if (child == 0) {
    strcpy(shared + 100, "written by the child");
    zdtm_wait();
    for (int i = 0; i < 500 && strcmp(shared + 200, "ping") != 0; ++i) usleep(10000);
    if (strcmp(shared + 200, "ping") != 0) _exit(31);
    if (strcmp(gone + 4096 + 10, "removed but attached") != 0) _exit(32);
    strcpy(shared + 300, "pong");
    strcpy(gone + 20, "child saw it");
    shmdt(gone);
    _exit(0);
  }
  if (shmctl(removed, IPC_RMID, NULL) != 0) zdtm_fail("IPC_RMID");
  usleep(100000);
  zdtm_ready();
  zdtm_wait();

  if (shmget(kKey, 0, 0) != keyed || shmget(kIdleKey, 0, 0) != idle) zdtm_fail("keys lost");
  check_stat(keyed, kSize, 0640, 0, 4, "keyed segment");  // two here, two in the child
  check_stat(removed, 2 * 4096, 0600, 1, 2, "removed segment");
  check_stat(idle, 4096, 0604, 0, 0, "unattached segment");
  check_stat(split, 4 * 4096, 0600, 0, 6, "split segment");  // nattch counts mappings
  if (strcmp(shared, "written by the parent") || strcmp(shared + 100, "written by the child") ||
      strcmp(shared + 3 * 4096 + 50, "in the last page"))
    zdtm_fail("keyed segment contents");
  if (strcmp(view, "written by the parent") != 0) zdtm_fail("read-only attach contents");
  check_perms(view, "r--s");
  check_perms(pieces, "rw-s");
  check_perms(pieces + 4096, "r--s");
  check_perms(pieces + 2 * 4096, "rw-s");
  if (strcmp(pieces + 2 * 4096, "third page") != 0) zdtm_fail("split segment contents");
  idle_mem = attach(idle, NULL, SHM_RDONLY);
  if (strcmp(idle_mem, "nobody attached") != 0) zdtm_fail("unattached segment contents");
  shmdt(idle_mem);
  // The two attaches of the keyed segment are one memory.
  strcpy(shared + 400, "through one");
  if (strcmp(view + 400, "through one") != 0) zdtm_fail("attaches not shared");

  strcpy(shared + 200, "ping");
  kill(child, SIGUSR1);
  int status;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    zdtm_fail("child status %x", status);
  if (strcmp(shared + 300, "pong") != 0) zdtm_fail("no pong through the keyed segment");
  if (strcmp(gone + 20, "child saw it") != 0) zdtm_fail("removed segment not shared");
  // The removed segment goes away with its last detach, as it would have.
  shmdt(gone);
  struct shmid_ds ds;
  if (shmctl(removed, IPC_STAT, &ds) == 0) zdtm_fail("removed segment outlived its attaches");
  shmdt(shared);
  shmdt(view);
  shmdt(pieces);
  shmctl(keyed, IPC_RMID, NULL);
  shmctl(idle, IPC_RMID, NULL);
  shmctl(split, IPC_RMID, NULL);
  zdtm_pass("zdtm_sysv_shm");
}
