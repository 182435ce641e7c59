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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import clock_session_store, wait_recorded  # noqa: E402


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
    with clock_session_store(deja) as (_, store, sid, start_ms):
        for seconds in (40, 80):
            wait_recorded(start_ms, seconds)
            phase(frame_probe, store, sid, start_ms, runs)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
