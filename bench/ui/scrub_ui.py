"""Scrubbing in deja ui as the user lives it: the real browser window on a live desktop
session whose clock prints 5 times a second (bench/ui/scrub_probe), from a cursor move on the
timeline to the frame of that moment painted. Two ways of reading frames in the same run:
"in process" (StoreFrames, what deja-ui does now) and "process" (a `deja frame` process per
frame after a 150 ms scrubbing pause, what it did before).

Two phases, as bench_scrub: after 40 s every moment is in the segment still being recorded;
after 80 s the axis spans a finished segment and the open one. In each, RUNS windows of
MOVES clicks and MOVES/4 drags per way. Then what the activity plot's re-read (every 2 s
while a recording session is shown) costs: the catalog's frame rows alone, and with the
frames of the segment being recorded read from its file (bench/ui/activity_probe).

usage: scrub_ui.py DEJA PROBE ACTIVITY_PROBE [RUNS] [MOVES]"""

import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import clock_session_store, wait_recorded  # noqa: E402


def probe(probe_bin, deja, store, sid, moves, process):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    args = [probe_bin, deja, store, sid, str(moves)] + (["process"] if process else [])
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"scrub_probe failed: {done.stderr.strip()}")
    print("   ", done.stdout, end="")
    f = done.stdout.split()
    return float(f[1]), float(f[2]), float(f[4]), float(f[5])


def phase(probe_bin, deja, store, sid, runs, moves):
    for process in (False, True):
        got = [probe(probe_bin, deja, store, sid, moves, process) for _ in range(runs)]
        name = "process (before)" if process else "in process (now)"
        med = [statistics.median(g[i] for g in got) for i in range(4)]
        print(f"  {name}: click median {med[0]:.1f} ms, p95 {med[1]:.1f} ms; drag end median "
              f"{med[2]:.1f} ms, p95 {med[3]:.1f} ms (medians of {runs} runs, load "
              f"{os.getloadavg()[0]:.1f})")


def activity(activity_bin, store, sid, start_ms):
    args = [activity_bin, os.path.join(store, "catalog.db"), os.path.join(store, "fs", "recordings"),
            sid, str(start_ms / 1000), "20"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    print(f"  activity re-read (20 reads, load {os.getloadavg()[0]:.1f}): {out}", end="")


def main():
    deja, probe_bin, activity_bin = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    moves = int(sys.argv[5]) if len(sys.argv) > 5 else 40
    print(f"load average before: {os.getloadavg()}")
    with clock_session_store(deja) as (_, store, sid, start_ms):
        for seconds in (40, 80):
            wait_recorded(start_ms, seconds)
            phase(probe_bin, deja, store, sid, runs, moves)
            activity(activity_bin, store, sid, start_ms)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
