// Private anonymous memory: a large patterned region with untouched holes and zero pages, a
// read-only and a PROT_NONE region holding data, the heap, and the exact mapping layout.
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "zdtm.h"

// The mapping layout, without the recorder engine's pages.
static std::string maps() {
  FILE* f = fopen("/proc/self/maps", "r");
  std::string s;
  char line[4096];
  while (fgets(line, sizeof line, f))
    if (!zdtm_engine_mapping(line)) s += line;
  fclose(f);
  return s;
}

int main() {
  zdtm_init();
  const size_t kBig = 64 << 20, page = 4096;
  auto* big = static_cast<unsigned char*>(
      mmap(nullptr, kBig, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  // Every third page written, every fifth page read only (a zero page), the rest untouched.
  for (size_t p = 0; p < kBig / page; ++p) {
    if (p % 3 == 0)
      memset(big + p * page, static_cast<int>(p * 31 + 7), page);
    else if (p % 5 == 0)
      (void)*static_cast<volatile unsigned char*>(big + p * page);
  }
  auto* ro = static_cast<char*>(
      mmap(nullptr, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  strcpy(ro + page, "read-only data");
  mprotect(ro, 3 * page, PROT_READ);
  auto* none = static_cast<char*>(
      mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  strcpy(none, "hidden behind PROT_NONE");
  mprotect(none, 2 * page, PROT_NONE);
  // A 4 GiB reservation (as language runtimes make) with one page in use deep inside it.
  auto* reserve = static_cast<char*>(
      mmap(nullptr, 4ul << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  char* used = reserve + (3ul << 30);
  mprotect(used, page, PROT_READ | PROT_WRITE);
  strcpy(used, "deep in a reservation");
  char* heap = static_cast<char*>(malloc(1 << 16));
  for (int i = 0; i < 1 << 16; ++i) heap[i] = static_cast<char>(i ^ 0x5a);
  void* brk_before = sbrk(0);
  std::string layout = maps();

  zdtm_ready();
  zdtm_wait();

  if (maps() != layout)
    zdtm_fail("mappings changed:\n%s\nnow:\n%s", layout.c_str(), maps().c_str());
  if (sbrk(0) != brk_before) zdtm_fail("brk moved");
  for (size_t p = 0; p < kBig / page; ++p)
    for (size_t i = 0; i < page; i += 512) {
      unsigned char want = p % 3 == 0 ? static_cast<unsigned char>(p * 31 + 7) : 0;
      if (big[p * page + i] != want) zdtm_fail("page %zu byte %zu differs", p, i);
    }
  if (strcmp(ro + page, "read-only data") != 0) zdtm_fail("read-only data lost");
  if (strcmp(used, "deep in a reservation") != 0) zdtm_fail("page in the reservation lost");
  mprotect(none, 2 * page, PROT_READ);
  if (strcmp(none, "hidden behind PROT_NONE") != 0) zdtm_fail("PROT_NONE data lost");
  for (int i = 0; i < 1 << 16; ++i)
    if (heap[i] != static_cast<char>(i ^ 0x5a)) zdtm_fail("heap byte %d differs", i);
  // The heap must still grow.
  void* more = malloc(8 << 20);
  memset(more, 1, 8 << 20);
  zdtm_pass("zdtm_anon_memory");
}
