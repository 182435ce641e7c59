"""Scrubbing in process: the frame at random moments of a live desktop session whose clock
prints 5 times a second, as the browser asks for them (bench/view/frame_probe).

Two phases: after 40 s every moment is in the segment still being recorded; after 80 s
the moments span a finished segment and the open one. In each, RUNS rounds of 100 random
moments with one kept ScreenHistory ("kept", the scrubber) and with a new one per request
("fresh": each `deja frame` process, and every request before readers were kept).

usage: scrub_latency.py DEJA FRAME_PROBE [RUNS]"""

import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import session_started_ms, start_clock_session, temporary_store  # noqa: E402


def probe(frame_probe, store, sid, start_ms, fresh):
    args = [frame_probe, os.path.join(store, "catalog.db"), os.path.join(store, "fs", "recordings"),
            sid, str(start_ms), "100"] + (["fresh"] if fresh else [])
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    print("   ", out, end="")
    fields = out.split()
    return float(fields[1]), float(fields[2])


def phase(frame_probe, store, sid, start_ms, runs):
    for fresh in (False, True):
        got = [probe(frame_probe, store, sid, start_ms, fresh) for _ in range(runs)]
        name = "fresh" if fresh else "kept"
        print(f"  {name}: median of medians {statistics.median(m for m, _ in got):.1f} ms, "
              f"median of p95s {statistics.median(p for _, p in got):.1f} ms "
              f"(runs {runs}, load {os.getloadavg()[0]:.1f})")


def main():
    deja, frame_probe = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    print(f"load average before: {os.getloadavg()}")
    with temporary_store(deja) as (run, sessions, store):
        sid, clock = start_clock_session(deja, run, sessions, store)
        try:
            start_ms = session_started_ms(run, sid)
            for seconds in (40, 80):
                time.sleep(max(0.0, start_ms / 1000 + seconds - time.time()))
                print(f"after {seconds} s of recording:")
                phase(frame_probe, store, sid, start_ms, runs)
        finally:
            clock.terminate()
            clock.wait()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
