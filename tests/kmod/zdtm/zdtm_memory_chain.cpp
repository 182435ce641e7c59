// Memory that keeps changing between checkpoints, for incremental chains: a region where one
// page after another is rewritten, some pages are dropped (MADV_DONTNEED, so they read as
// zero again), and a small mapping that moves back and forth (mremap). Every change is a
// pure function of the step number, so after a revive from any checkpoint the program
// replays steps 0..n in its head and checks every page against what it holds.
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <cstdint>
#include <cstdlib>

#include "zdtm.h"

static const size_t kPage = 4096, kPages = 2048, kMoving = 8;

static uint64_t page_of(uint64_t step) {
  uint64_t x = step * 0x9E3779B97F4A7C15ull;
  return (x >> 17) % kPages;
}

static bool drops(uint64_t step) { return step % 10 == 9; }

static void fill(unsigned char* page, uint64_t value) {
  for (size_t w = 0; w < kPage / 8; ++w) {
    uint64_t v = value * 1000003 + w;
    memcpy(page + w * 8, &v, 8);
  }
}

// argv[1]: microseconds between steps (default 2000; 0 writes as fast as it can, so pages
// change while the recorder copies them ahead of the freeze).
int main(int argc, char** argv) {
  zdtm_init();
  long nap_us = argc > 1 ? atol(argv[1]) : 2000;
  auto* mem = static_cast<unsigned char*>(mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE,
                                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  // Two homes for the moving mapping inside one reservation, so moves never collide.
  auto* homes = static_cast<unsigned char*>(
      mmap(nullptr, 2 * kMoving * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  auto* moving = static_cast<unsigned char*>(mmap(homes, kMoving * kPage, PROT_READ | PROT_WRITE,
                                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
  for (size_t p = 0; p < kMoving; ++p) fill(moving + p * kPage, 77 + p);
  for (size_t p = 0; p < kPages; p += 3) fill(mem + p * kPage, 1 + p);  // step "-1"
  static volatile uint64_t done = 0;  // steps completed
  zdtm_ready();

  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  struct timespec nap = {nap_us / 1000000, nap_us % 1000000 * 1000};
  for (uint64_t step = 0;; ++step) {
    unsigned char* page = mem + page_of(step) * kPage;
    if (drops(step))
      madvise(page, kPage, MADV_DONTNEED);
    else
      fill(page, step + 100000);
    if (step % 17 == 16) {
      unsigned char* other = moving == homes ? homes + kMoving * kPage : homes;
      moving = static_cast<unsigned char*>(
          mremap(moving, kMoving * kPage, kMoving * kPage, MREMAP_MAYMOVE | MREMAP_FIXED, other));
    }
    done = step + 1;
    if (sigtimedwait(&usr1, nullptr, &nap) == SIGUSR1) break;
  }

  // What every page must hold after `done` steps.
  static uint64_t last[kPages];  // 0: zero page; else the value filled in
  for (size_t p = 0; p < kPages; ++p) last[p] = p % 3 == 0 ? 1 + p : 0;
  for (uint64_t s = 0; s < done; ++s) last[page_of(s)] = drops(s) ? 0 : s + 100000;
  static unsigned char want[kPage];
  for (size_t p = 0; p < kPages; ++p) {
    if (last[p])
      fill(want, last[p]);
    else
      memset(want, 0, kPage);
    if (memcmp(want, mem + p * kPage, kPage) != 0)
      zdtm_fail("after %llu steps page %zu differs (expected %llu)", (unsigned long long)done, p,
                (unsigned long long)last[p]);
  }
  unsigned char* home = (done / 17) % 2 ? homes + kMoving * kPage : homes;
  if (moving != home) zdtm_fail("moving mapping at %p, expected %p", moving, home);
  for (size_t p = 0; p < kMoving; ++p) {
    fill(want, 77 + p);
    if (memcmp(want, moving + p * kPage, kPage) != 0) zdtm_fail("moved page %zu differs", p);
  }
  printf("verified %llu steps\n", (unsigned long long)done);
  zdtm_pass("zdtm_memory_chain");
}
