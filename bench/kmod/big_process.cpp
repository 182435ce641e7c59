// The benchmark's subject: SIZE_MIB of written private memory (no zero pages), then the zdtm
// protocol: "ready", wait for SIGUSR1, verify every page, exit 0 with PASS.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static volatile sig_atomic_t go = 0;
static void on_usr1(int) {
  go = 1;
}

int main(int argc, char** argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], nullptr, 10) : 1024;
  size_t size = mib << 20;
  signal(SIGUSR1, on_usr1);
  sigset_t s, old;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  sigprocmask(SIG_BLOCK, &s, &old);
  auto* p = static_cast<unsigned long*>(
      mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  for (size_t i = 0; i < size / sizeof(unsigned long); ++i) p[i] = i * 0x9e3779b97f4a7c15ul + 1;
  setvbuf(stdout, nullptr, _IONBF, 0);
  printf("ready\n");
  while (!go) sigsuspend(&old);
  for (size_t i = 0; i < size / sizeof(unsigned long); ++i)
    if (p[i] != i * 0x9e3779b97f4a7c15ul + 1) {
      printf("FAIL: word %zu differs\n", i);
      return 1;
    }
  printf("PASS big_process\n");
  return 0;
}
