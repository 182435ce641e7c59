"""deja ui on a 24-hour session: time until its timeline is open (all checkpoints as ticks,
the activity plot read). The session is synthetic: rows written straight into a real
store's catalog (a stopped session started 24 h ago, a checkpoint every CHECKPOINT_EVERY
seconds, a 60 s segment per minute whose frames follow a busy/still pattern: 5 frames a
second in one minute of three, one a minute otherwise); no process, snapshot or video
file exists behind them, which opening the timeline does not read.

usage: timeline_open.py DEJA PROBE [RUNS] [CHECKPOINT_EVERY]"""

import os
import sqlite3
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import temporary_store  # noqa: E402

DAY = 24 * 3600
SESSION = "day0synthetic"


def fill(catalog, every):
    db = sqlite3.connect(catalog)
    started = time.time() - DAY - 60
    db.execute("INSERT INTO sessions (id, name, state, started, stopped, command, home) "
               "VALUES (?, 'a day', 'stopped', ?, ?, '[\"xterm\"]', '/root')",
               (SESSION, started, started + DAY))
    crid = db.execute("SELECT value FROM counters WHERE name = 'crid'").fetchone()[0]
    rows = []
    for n in range(int(DAY / every)):
        crid += 1
        rows.append((crid, SESSION, started + n * every, 0, f"snap-{crid}", 1.0))
    db.executemany("INSERT INTO checkpoints (crid, session, time, fsid, snapshot, downtime_ms) "
                   "VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.execute("UPDATE counters SET value = ? WHERE name = 'crid'", (crid,))
    frames = 0
    start_ms = int(started * 1000)
    for minute in range(DAY // 60):
        seg_start = start_ms + minute * 60000
        cur = db.execute("INSERT INTO display_segments (session, file, start_ms, end_ms, width, "
                         "height, state, frames, bytes) VALUES (?, ?, ?, ?, 1280, 800, "
                         "'finished', 0, 0)",
                         (SESSION, f"{SESSION}/{seg_start}.mkv", seg_start, seg_start + 60000))
        pts = range(0, 60000, 200) if minute % 3 == 0 else [0]
        db.executemany("INSERT INTO display_frames (segment, pts_ms, key) VALUES (?, ?, ?)",
                       [(cur.lastrowid, p, int(p % 2000 == 0)) for p in pts])
        frames += len(pts)
    db.commit()
    db.close()
    return len(rows), frames


def main():
    deja, probe = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    every = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    print(f"load average before: {os.getloadavg()}")
    with temporary_store(deja) as (run, sessions, store):
        checkpoints, frames = fill(os.path.join(store, "catalog.db"), every)
        print(f"synthetic session: 24 h, {checkpoints} checkpoints, {frames} frames")
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        got = []
        for _ in range(runs):
            done = subprocess.run([probe, deja, store, SESSION, str(checkpoints)], env=env,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(done.stderr.strip())
            out = done.stdout
            print("   ", out, end="")
            got.append([int(v) for v in out.split()[1:7:2]])
        for i, name in enumerate(["ticks_ms", "activity_ms", "drawn_ms"]):
            print(f"{name} median {statistics.median(g[i] for g in got)} (runs {runs})")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
