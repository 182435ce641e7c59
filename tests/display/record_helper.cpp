// deja-display-record-helper FRAMEBUFFER RECORDINGS_DIR SESSION CATALOG [X_SOCKET]: records a
// screen (with X_SOCKET, the X server's socket, its windows too) until SIGTERM (stops
// cleanly) or SIGKILL (the crash the recovery tests need). Prints "recording" once started. A separate program so a test can kill it like a crashed
// recorder without killing itself.
#include <signal.h>

#include <cstdio>

#include "display/ScreenRecorder.h"

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr, "usage: %s FRAMEBUFFER RECORDINGS_DIR SESSION CATALOG [X_SOCKET]\n",
                 argv[0]);
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  // Blocked before any thread starts, so only sigwait below receives them.
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  deja::display::RecorderOptions o;
  o.framebuffer = argv[1];
  o.recordings_dir = argv[2];
  o.session = argv[3];
  o.catalog = argv[4];
  if (argc == 6) o.x_socket = argv[5];
  deja::display::ScreenRecorder rec(o);
  rec.start();
  std::printf("recording\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  rec.stop();
  return 0;
}
