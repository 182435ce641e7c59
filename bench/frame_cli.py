"""What a user waits for at the command line, each command a new process as the user runs it:
the start of a display session (from `deja record --detach` to its first recorded frame) and
`deja frame SESSION@T` at random moments of a live session (its open segment included),
process start, catalog lookup, decode and PNG included. The display benchmark times frames
in-process with a warm cache; this is the other side.

Usage: frame_cli.py DEJA [--sessions N] [--frames N]"""

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import first_frame_seconds, pct, temporary_store

# An xterm printing a line a second: the screen changes, so segments grow all along.
WORKLOAD = ["xterm", "-geometry", "80x24+0+0", "-e", "sh", "-c",
            "i=0; while true; do i=$((i+1)); echo line $i; sleep 1; done"]


def main():
    args = sys.argv[1:]
    deja = args[0]
    sessions_n = int(args[args.index("--sessions") + 1]) if "--sessions" in args else 5
    frames_n = int(args[args.index("--frames") + 1]) if "--frames" in args else 30
    with temporary_store(deja) as (run, sessions, store):
        starts, records = [], []
        for _ in range(sessions_n):
            t0 = time.monotonic()
            sid = run("record", "--detach", "--interval", "0", "--", *WORKLOAD).strip()
            records.append(time.monotonic() - t0)
            sessions.append(sid)
            starts.append(first_frame_seconds(store, sid, t0))
        live = sessions[-1]
        for sid in sessions[:-1]:
            run("stop", sid)
        time.sleep(15)  # the live session's screen history: finished segments and an open one
        frames = []
        with tempfile.TemporaryDirectory() as tmp:
            png = os.path.join(tmp, "frame.png")
            for _ in range(frames_n):
                at = random.uniform(1.0, 14.0)
                t0 = time.monotonic()
                subprocess.run([deja, "--store", store, "frame", f"{live}@{at:.3f}", "-o", png],
                               check=True, capture_output=True)
                frames.append(time.monotonic() - t0)
        started = time.monotonic()
        subprocess.run([deja, "--help"], check=True, capture_output=True)
        bare = time.monotonic() - started

    def ms(values):
        return f"median {statistics.median(values) * 1000:.0f} ms, p95 {pct(values, 95) * 1000:.0f} ms"

    print(f"session start, deja record --detach returning: {ms(records)} ({sessions_n} sessions)")
    print(f"session start to its first recorded frame: {ms(starts)}")
    print(f"deja frame as a new process, random moments of a live session: {ms(frames)} "
          f"({frames_n} frames); deja --help alone: {bare * 1000:.0f} ms")
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
