// madvise and mlock state: every mapping's VmFlags in /proc/self/smaps is the same after
// the revive, and MADV_WIPEONFORK and MADV_DONTFORK still act on a child forked afterwards.
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "zdtm.h"

static std::string vm_flags() {
  FILE* f = fopen("/proc/self/smaps", "r");
  std::string out;
  char line[512];
  bool engine = false;  // inside the block of the recorder engine's pages
  while (fgets(line, sizeof line, f)) {
    bool header = strchr(line, '-') == line + strspn(line, "0123456789abcdef");
    if (header) engine = zdtm_engine_mapping(line);
    if (engine) continue;
    // "uw" (userfaultfd write-protect) is the recorder's dirty tracking in a recorded
    // session, not state of the program's own.
    if (char* uw = strstr(line, " uw ")) memmove(uw, uw + 3, strlen(uw + 3) + 1);
    if (strncmp(line, "VmFlags:", 8) == 0 || header) out += line;
  }
  fclose(f);
  return out;
}

static char* region(int advice) {
  auto* p = static_cast<char*>(
      mmap(nullptr, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  memset(p, 0x5a, 4096);
  if (advice >= 0 && madvise(p, 4 << 20, advice) != 0) zdtm_fail("madvise %d", advice);
  return p;
}

int main() {
  zdtm_init();
  char* dontfork = region(MADV_DONTFORK);
  char* wipe = region(MADV_WIPEONFORK);
  region(MADV_DONTDUMP);
  region(MADV_HUGEPAGE);
  region(MADV_NOHUGEPAGE);
  region(MADV_RANDOM);
  region(MADV_SEQUENTIAL);
  char* locked = region(-1);
  if (mlock(locked, 1 << 20) != 0) zdtm_fail("mlock");
  std::string before = vm_flags();

  zdtm_ready();
  zdtm_wait();

  std::string after = vm_flags();
  if (after != before) zdtm_fail("VmFlags changed:\n%s\nnow:\n%s", before.c_str(), after.c_str());
  pid_t child = fork();
  if (child == 0) {
    // Wiped in the child, and the DONTFORK region is not there at all.
    if (wipe[0] != 0) _exit(10);
    if (mincore(dontfork, 4096, reinterpret_cast<unsigned char*>(&child)) == 0) _exit(11);
    _exit(0);
  }
  int st;
  if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    zdtm_fail("fork semantics: status %x", st);
  if (wipe[0] != 0x5a || dontfork[0] != 0x5a) zdtm_fail("parent's data");
  zdtm_pass("zdtm_madvise");
}
