// Measures deja view from outside: how long a change of the session's screen takes to
// show in the viewer's window, and how long the viewer's input takes to reach the
// session's X server. Run by view_latency.py with a desktop session and a viewer on an
// Xvfb of its own (started with -fbdir, so its screen can be read as a file).
//
//   view_probe SESSION_X_SOCKET VIEWER_DISPLAY VIEWER_FRAMEBUFFER RUNS
// prints: screen_ms <median> <p95> / input_ms <median> <p95>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <xcb/xcb.h>
#include <xcb/xtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "display/XwdFramebuffer.h"

namespace {

using Clock = std::chrono::steady_clock;

xcb_connection_t* connect_socket(const char* path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror(path);
    std::exit(1);
  }
  return xcb_connect_to_fd(fd, nullptr);
}

// A round trip: everything sent before has been processed by the server.
void sync(xcb_connection_t* c) {
  std::free(xcb_get_input_focus_reply(c, xcb_get_input_focus(c), nullptr));
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

void report(const char* what, std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::printf("%s %.1f %.1f (n=%zu)\n", what, v[v.size() / 2], v[v.size() * 95 / 100], v.size());
}

uint32_t pixel(const deja::display::XwdFramebuffer& fb, int x, int y) {
  uint32_t p;
  std::memcpy(&p, fb.pixels() + y * fb.stride() + x * 4, 4);
  return p & 0xffffff;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: view_probe SESSION_X_SOCKET VIEWER_DISPLAY VIEWER_FB RUNS\n");
    return 2;
  }
  const int runs = std::atoi(argv[4]);
  xcb_connection_t* session = connect_socket(argv[1]);
  xcb_connection_t* viewer = xcb_connect(argv[2], nullptr);
  if (xcb_connection_has_error(session) || xcb_connection_has_error(viewer)) {
    std::fprintf(stderr, "view_probe: cannot connect\n");
    return 1;
  }
  xcb_screen_t* sroot = xcb_setup_roots_iterator(xcb_get_setup(session)).data;
  xcb_screen_t* vroot = xcb_setup_roots_iterator(xcb_get_setup(viewer)).data;
  deja::display::XwdFramebuffer fb(argv[3]);

  // Screen: the session's root background (bottom right, where the desktop has no window)
  // turns another colour; the clock runs from the server having done it to the viewer's
  // screen showing it (the viewer window is at 0,0 and 1:1).
  std::vector<double> screen;
  const int x = sroot->width_in_pixels - 20, y = sroot->height_in_pixels - 20;
  for (int i = 0; i < runs; ++i) {
    const uint32_t colour = (i % 2) ? 0x204060 : 0x604020;
    xcb_change_window_attributes(session, sroot->root, XCB_CW_BACK_PIXEL, &colour);
    xcb_clear_area(session, 0, sroot->root, 0, 0, 0, 0);
    sync(session);
    auto t0 = Clock::now();
    while (std::abs(int(pixel(fb, x, y) & 0xff) - int(colour & 0xff)) > 8) {
      if (ms_since(t0) > 2000) break;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    screen.push_back(ms_since(t0));
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  report("screen_ms", screen);

  // Input: the pointer moves on the viewer's display (XTest, as the user's mouse would);
  // the clock runs until the session's server reports its own pointer there.
  std::vector<double> input;
  for (int i = 0; i < runs; ++i) {
    const int16_t vx = 1000 + (i % 2) * 40, vy = 700;
    auto t0 = Clock::now();
    xcb_test_fake_input(viewer, XCB_MOTION_NOTIFY, 0, XCB_CURRENT_TIME, vroot->root, vx, vy, 0);
    xcb_flush(viewer);
    for (;;) {
      auto* r = xcb_query_pointer_reply(session, xcb_query_pointer(session, sroot->root), nullptr);
      bool there = r && r->root_x == vx && r->root_y == vy;
      std::free(r);
      if (there || ms_since(t0) > 2000) break;
    }
    input.push_back(ms_since(t0));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  report("input_ms", input);
  xcb_disconnect(session);
  xcb_disconnect(viewer);
  return 0;
}
