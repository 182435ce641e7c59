"""Revive speed of two builds on the same checkpoints: the desktop of bench/desktop.py is
recorded by the first build for DURATION seconds, then its early, middle and latest checkpoints
are revived by each build in turn (the order alternating between rounds), each timed from the
command to the branch running and to its first recorded frame. bench/desktop.py's revive
figures compare images that each build's own capture made; this compares the revives alone.

Usage: desktop_revive_ab.py DEJA_A DEJA_B [DURATION] [--rounds N]"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchlib import first_frame_seconds, temporary_store

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from desktop_programs import DESKTOP  # noqa: E402  (the test's own desktop)


def revive(deja, store, what):
    """(ms to running, ms to first frame) of one revive, the branch stopped again."""
    t = time.monotonic()
    branch = subprocess.run([deja, "--store", store, "revive", what, "--detach"], check=True,
                            capture_output=True, text=True).stdout.strip()
    running = time.monotonic() - t
    try:
        return running * 1000, first_frame_seconds(store, branch, t) * 1000
    finally:
        subprocess.run([deja, "--store", store, "stop", branch], capture_output=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("deja_a")
    ap.add_argument("deja_b")
    ap.add_argument("duration", type=float, nargs="?", default=14)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    builds = {"A": args.deja_a, "B": args.deja_b}
    results = {"A": [], "B": []}
    with temporary_store(args.deja_a) as (run, sessions, store):
        sid = run("record", "--detach", "--interval", "1", "--", *DESKTOP).strip()
        sessions.append(sid)
        time.sleep(args.duration)
        rows = json.loads(run("checkpoints", sid, "--json"))
        for r in range(args.rounds):
            for cp in (rows[1], rows[len(rows) // 2], rows[-1]):
                for name in ("A", "B") if r % 2 == 0 else ("B", "A"):
                    results[name].append(revive(builds[name], store, f"{sid}:{cp['crid']}"))
    for name, runs in results.items():
        print(f"{name} ({builds[name]}): revive -> running / first frame: "
              + ", ".join(f"{a:.0f}/{b:.0f}" for a, b in runs)
              + f" ms; median {statistics.median(a for a, _ in runs):.0f}"
              f" / {statistics.median(b for _, b in runs):.0f} ms")
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
