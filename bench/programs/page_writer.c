/* The issue 4 workload: holds SIZE MiB of touched memory and rewrites RATE random pages a
 * second, forever. Usage: page_writer [SIZE_MIB] [RATE]. Prints "ready" once populated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

int main(int argc, char** argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 512;
  long rate = argc > 2 ? strtol(argv[2], NULL, 10) : 1000;
  size_t pages = mib * 256;
  unsigned char* mem = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  for (size_t i = 0; i < pages; ++i) memset(mem + i * 4096, (int)(i & 0xff) | 1, 4096);
  printf("ready\n");
  fflush(stdout);
  uint64_t x = 88172645463325252ull; /* xorshift: cheap, not worth a libc call per page */
  const long batches = 100; /* spread the writes over the second */
  struct timespec nap = {0, 1000000000L / batches};
  for (uint64_t round = 1;; ++round) {
    for (long b = 0; b < rate / batches; ++b) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      size_t page = x % pages;
      memset(mem + page * 4096, (int)(round & 0xff), 4096);
    }
    nanosleep(&nap, NULL);
  }
}
