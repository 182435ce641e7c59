"""The desktop of tests/e2e/test_desktop.py (Xvfb, twm, an xterm running bash, an analog clock
drawing every second, a GTK 3 app on its D-Bus session bus) recorded with one checkpoint a second, counted from the session's start:
checkpoints committed, downtime median / p99 and its parts, the longest gap between commits,
the recorder's CPU while the desktop idles with its clock ticking; then revives of an early, a
middle and the latest checkpoint, each timed from the command to the branch running (the
command returns) and to the branch's first recorded frame (its screen segment has data).

Usage: desktop.py DEJA [DURATION] [--runs N]"""

import json
import os
import sqlite3
import statistics
import sys
import time

from benchlib import first_frame_seconds, pct, process_cpu_seconds, take_runs, temporary_store

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from desktop_programs import DESKTOP  # noqa: E402  (the test's own desktop)


def one_run(deja, duration):
    with temporary_store(deja) as (run, sessions, store):
        sid = run("record", "--detach", "--interval", "1", "--", *DESKTOP).strip()
        started = time.monotonic()
        sessions.append(sid)
        db = sqlite3.connect(os.path.join(store, "catalog.db"), timeout=5)
        [recorder] = db.execute("SELECT supervisor_pid FROM sessions WHERE id = ?", (sid,)).fetchone()
        time.sleep(3)  # the desktop's programs start; the cadence is counted from the start anyway
        cpu0, t0 = process_cpu_seconds(recorder), time.monotonic()
        time.sleep(max(0.0, duration - (time.monotonic() - started)))
        cpu = (process_cpu_seconds(recorder) - cpu0) / (time.monotonic() - t0)
        rows = json.loads(run("checkpoints", sid, "--json"))
        with open(os.path.join(store, "run", f"{sid}.log")) as f:
            failures = f.read().count("checkpoint failed")
        times = [0.0] + [r["t"] for r in rows]
        gap = max(b - a for a, b in zip(times, times[1:])) if rows else float("nan")
        revives = []
        for cp in (rows[1], rows[len(rows) // 2], rows[-1]):
            t = time.monotonic()
            branch = run("revive", f"{sid}:{cp['crid']}", "--detach").strip()
            running = time.monotonic() - t
            sessions.append(branch)
            revives.append((running, first_frame_seconds(store, branch, t)))
            run("stop", branch)
        return rows, failures, gap, cpu, revives, duration


def main():
    args = sys.argv[1:]
    runs = take_runs(args, 1)
    deja = args[0]
    duration = float(args[1]) if len(args) > 1 else 60
    results = []
    for r in range(runs):
        rows, failures, gap, cpu, revives, duration = one_run(deja, duration)
        down = [c["downtime_ms"] for c in rows]
        parts = {}
        for c in rows:
            for k, v in c["downtime_parts"].items():
                parts.setdefault(k, []).append(v)
        print(f"run {r + 1}: {len(rows)} checkpoints in {duration:.0f} s ({failures} failed), "
              f"longest gap {gap:.2f} s, downtime median {statistics.median(down):.1f} ms "
              f"p99 {pct(down, 99):.1f} ms, parts (median) "
              + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in parts.items())
              + f"; recorder CPU {cpu * 100:.1f}% of a core; revive -> running / first frame: "
              + ", ".join(f"{a * 1000:.0f}/{b * 1000:.0f} ms" for a, b in revives))
        for name, c in (("first", rows[0]), ("longest", max(rows, key=lambda c: c["downtime_ms"]))):
            print(f"   {name}: CRID {c['crid']}, {c['downtime_ms']:.1f} ms ("
                  + ", ".join(f"{k} {v:.1f}" for k, v in c["downtime_parts"].items()) + ")")
        results.append((statistics.median(down), pct(down, 99), cpu,
                        statistics.median(b for _, b in revives)))
    if runs > 1:
        def med(i):
            return statistics.median(x[i] for x in results)
        print(f"median of {runs} runs: downtime median {med(0):.1f} ms, p99 {med(1):.1f} ms, "
              f"recorder CPU {med(2) * 100:.1f}%, revive to first frame {med(3) * 1000:.0f} ms")
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
