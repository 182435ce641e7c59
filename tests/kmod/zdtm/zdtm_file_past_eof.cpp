// A private mapping of a file that reaches past the file's end: the page inside holds the
// file's data, the pages past it cannot be touched (SIGBUS). One such mapping stays, and one
// is made and dropped again every 2 ms, so a recorder's checkpoint also meets one that is new
// to it (read in full while write-protect markers cover every page, the ones past the end
// too).
#include <fcntl.h>
#include <setjmp.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "zdtm.h"

static const size_t kPage = 4096;
static sigjmp_buf bus_jump;

static void on_bus(int) { siglongjmp(bus_jump, 1); }

// Whether touching `p` raises SIGBUS.
static bool faults(volatile const char* p) {
  if (sigsetjmp(bus_jump, 1)) return true;
  (void)*p;
  return false;
}

int main() {
  zdtm_init();
  int fd = open("past_eof", O_RDWR | O_CREAT | O_TRUNC, 0644);
  char page[kPage];
  memset(page, 'e', sizeof page);
  if (write(fd, page, sizeof page) != static_cast<ssize_t>(sizeof page)) zdtm_fail("write");
  auto* stays =
      static_cast<const char*>(mmap(nullptr, 4 * kPage, PROT_READ, MAP_PRIVATE, fd, 0));
  if (stays == MAP_FAILED) zdtm_fail("mmap");
  struct sigaction sa = {};
  sa.sa_handler = on_bus;
  sigaction(SIGBUS, &sa, nullptr);
  zdtm_ready();

  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  struct timespec nap = {0, 2000000};
  for (;;) {
    void* fresh = mmap(nullptr, 4 * kPage, PROT_READ, MAP_PRIVATE, fd, 0);
    if (fresh == MAP_FAILED || static_cast<const char*>(fresh)[0] != 'e') zdtm_fail("remap");
    if (sigtimedwait(&usr1, nullptr, &nap) == SIGUSR1) break;
    munmap(fresh, 4 * kPage);
  }

  if (memcmp(stays, page, kPage) != 0) zdtm_fail("the page inside the file changed");
  for (int i = 1; i < 4; ++i)
    if (!faults(stays + i * kPage)) zdtm_fail("page %d past the end of the file is readable", i);
  zdtm_pass("zdtm_file_past_eof");
}
