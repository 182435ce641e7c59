// epoll: an instance watching an eventfd (level), a pipe's read end (edge-triggered), a
// socket (one-shot, already fired and so disarmed) and a pipe's write end, each with its
// user data. After the revive the same events are reported, the disarmed one stays quiet
// until it is re-armed with EPOLL_CTL_MOD on its fd, and the registrations are keyed by the
// same fd numbers.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>

#include "zdtm.h"

static std::map<uint64_t, uint32_t> ready(int ep) {
  epoll_event ev[8];
  int n = epoll_wait(ep, ev, 8, 0);
  std::map<uint64_t, uint32_t> out;
  for (int i = 0; i < n; ++i) out[ev[i].data.u64] = ev[i].events;
  return out;
}

static void add(int ep, int fd, uint32_t events, uint64_t data) {
  epoll_event e{};
  e.events = events;
  e.data.u64 = data;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e)) zdtm_fail("epoll_ctl add fd %d", fd);
}

int main() {
  zdtm_init();
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int ev = eventfd(1, EFD_NONBLOCK);
  int p[2], s[2];
  if (ep < 0 || ev < 0 || pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, s)) zdtm_fail("setup");
  add(ep, ev, EPOLLIN, 0x1111);
  add(ep, p[0], EPOLLIN | EPOLLET, 0x2222);
  add(ep, s[0], EPOLLIN | EPOLLONESHOT, 0x3333);
  add(ep, p[1], EPOLLOUT, 0x4444);
  if (write(s[1], "a", 1) != 1) zdtm_fail("write socket");
  auto before = ready(ep);  // fires (and disarms) the one-shot
  if (!before.count(0x3333)) zdtm_fail("one-shot did not fire before the checkpoint");
  if (write(p[1], "x", 1) != 1) zdtm_fail("write pipe");
  if (write(s[1], "b", 1) != 1) zdtm_fail("write socket");

  zdtm_ready();
  zdtm_wait();

  auto after = ready(ep);
  if (after.size() != 3 || after[0x1111] != EPOLLIN || after[0x2222] != EPOLLIN ||
      after[0x4444] != EPOLLOUT)
    zdtm_fail("after the revive %zu fds are ready, not the eventfd, pipe and pipe writer", after.size());
  auto again = ready(ep);
  if (again.count(0x2222)) zdtm_fail("the edge-triggered pipe fired twice for one write");
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = 0x5555;
  if (epoll_ctl(ep, EPOLL_CTL_MOD, s[0], &e)) zdtm_fail("EPOLL_CTL_MOD of the socket's fd number failed");
  if (ready(ep)[0x5555] != EPOLLIN) zdtm_fail("re-armed socket not reported");
  if (epoll_ctl(ep, EPOLL_CTL_DEL, ev, nullptr)) zdtm_fail("EPOLL_CTL_DEL of the eventfd failed");
  if (ready(ep).count(0x1111)) zdtm_fail("deleted eventfd still reported");
  zdtm_pass("zdtm_epoll");
}
