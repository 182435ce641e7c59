/* The stall meter: runs inside a session beside its workload and measures what the session
 * lives through while it is checkpointed (the freeze, a leader stopped while it is armed, the
 * recorder's copies competing for the CPU). It asks to wake every 0.5 ms and appends each gap
 * over 2 ms to FILE as "UNIX_TIME_GAP_STARTED GAP_MS". Usage: stall_meter FILE */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double seconds(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: stall_meter FILE\n");
    return 2;
  }
  int out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (out < 0) {
    perror(argv[1]);
    return 1;
  }
  const struct timespec nap = {0, 500000};
  double last = seconds(CLOCK_MONOTONIC);
  for (;;) {
    nanosleep(&nap, NULL);
    double now = seconds(CLOCK_MONOTONIC);
    double gap = now - last;
    last = now;
    if (gap > 0.002) {
      char line[64];
      int n = snprintf(line, sizeof line, "%.6f %.3f\n", seconds(CLOCK_REALTIME) - gap, gap * 1e3);
      if (write(out, line, (size_t)n) != n) return 1;
    }
  }
}
