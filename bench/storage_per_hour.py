"""Storage a recorded desktop costs per hour, before and after thinning, for checkpoints
with their snapshots and for screen recordings separately. Records the desktop of
bench/desktop.py (twm, an xterm, a clock ticking every second) for DURATION seconds, idle, and
again busy (a terminal scrolling `ls -lR /usr` and a program rewriting 1 MiB of a file's pages
every second). Then extrapolates to an hour:
- before thinning: what the run stored (checkpoints: the growth of the store's used bytes,
  after btrfs commits, less the recordings and the session's live files; recordings: their
  segment bytes), times 3600 / DURATION;
- after thinning, for an hour between 1 h and 1 d old (retention keeps the last checkpoint
  and frame of each minute): the run is moved back two hours, starting at a minute, and
  thinned by `deja gc`; recordings only (what stays of its DURATION / 60 minutes, times
  60: the checkpoints' figure would be mostly the session's first full image);
- after thinning, for an hour older than a day (retention keeps one checkpoint and frame an
  hour): the checkpoints of the run are spread over one hour, its recordings moved into the
  middle of it, and thinned by `deja gc`, the store measured again once btrfs has freed the
  deleted snapshots.
Recordings' "after" figures are the bytes of their segments once thinned (docs/storage.md).

usage: storage_per_hour.py DEJA [DURATION]"""

import json
import os
import sqlite3
import subprocess
import sys
import time

from benchlib import temporary_store
from desktop import DESKTOP

BUSY = ["sh", "-c",
        "xterm -geometry 100x30+100+50 -e sh -c 'while :; do ls -lR /usr; done' & "
        "python3 -c \"import time\nf = open('/tmp/pages', 'wb')\n"
        "while True:\n    f.seek(0); f.write(bytes(1 << 20)); f.flush(); time.sleep(1)\" & "
        "wait"]


def used_bytes(store):
    root = os.path.join(store, "fs")
    subprocess.run(["btrfs", "filesystem", "sync", root], check=True, capture_output=True)
    subprocess.run(["btrfs", "subvolume", "sync", root], check=True, capture_output=True)
    st = os.statvfs(root)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def one(deja, duration, busy):
    with temporary_store(deja) as (_, sessions, store):
        def run(*args):
            p = subprocess.run([deja, "--store", store, *args], capture_output=True, text=True)
            if p.returncode != 0:
                raise SystemExit(f"deja {' '.join(args)}: {p.stderr.strip()}")
            return p.stdout

        base = used_bytes(store)
        sid = run("record", "--detach", "--interval", "1", "--", *DESKTOP).strip()
        sessions.append(sid)
        time.sleep(3)
        if busy:
            run("exec", sid, "--", "sh", "-c", f"export DISPLAY=:0; ({BUSY[2]}) >/dev/null 2>&1 &")
        time.sleep(duration)
        run("stop", sid)
        df = json.loads(run("df", "--json"))
        [s] = df["sessions"]
        total = used_bytes(store) - base
        checkpoints_bytes = total - s["recordings_bytes"] - s["files_bytes"]
        before = (s["checkpoints"], checkpoints_bytes, s["recordings_bytes"])

        def thinned():
            run("gc")
            kept = len(json.loads(run("checkpoints", sid, "--json")))
            ck = used_bytes(store) - base - recordings_bytes(store) - s["files_bytes"]
            return kept, ck, recordings_bytes(store), images_bytes(store)

        # Two hours ago, from the start of a minute: one checkpoint and frame a minute stay.
        t0 = query(store, "SELECT min(time) FROM checkpoints")
        minute = (time.time() - 7200) // 60 * 60
        move(store, "UPDATE checkpoints SET time = time + ?", minute - t0)
        minutely = thinned()
        # Into one hour more than a day ago; retention then keeps its latest.
        t0 = query(store, "SELECT min(time) FROM checkpoints")
        hour = (time.time() - 2 * 86400) // 3600 * 3600
        move(store, "UPDATE checkpoints SET time = ? + (time - ?) * 3000.0 / ?",
             hour, t0, max(duration, 1))
        t0_ms = query(store, "SELECT min(start_ms) FROM display_segments")
        if t0_ms is not None:
            move(store, "", int((hour + 1800) * 1000 - t0_ms), recordings_only=True)
        hourly = thinned()
        return before, minutely, hourly


def query(store, sql):
    db = sqlite3.connect(os.path.join(store, "catalog.db"))
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


def images_bytes(store):
    folder = os.path.join(store, "fs", "images")
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder)
               for f in files)


def recordings_bytes(store):
    return query(store, "SELECT coalesce(sum(bytes), 0) FROM display_segments")


def move(store, checkpoints_sql, *args, recordings_only=False):
    """Runs checkpoints_sql (moving checkpoint times); without recordings_only, and with
    one argument (seconds), moves the screen recordings and their text by as much too;
    with recordings_only, moves only them, by args[0] milliseconds."""
    db = sqlite3.connect(os.path.join(store, "catalog.db"))
    if not recordings_only:
        db.execute(checkpoints_sql, args)
    if recordings_only or len(args) == 1:
        ms = args[0] if recordings_only else int(args[0] * 1000)
        db.execute("UPDATE display_segments SET start_ms = start_ms + ?1, "
                   "end_ms = end_ms + ?1", (ms,))
        db.execute("UPDATE display_text SET first_ms = first_ms + ?1, last_ms = last_ms + ?1",
                   (ms,))
    db.commit()
    db.close()


def main():
    deja = sys.argv[1]
    duration = float(sys.argv[2]) if len(sys.argv) > 2 else 120
    scale = 3600 / duration
    mib = 1 << 20
    print(f"desktop recorded {duration:.0f} s per run, one checkpoint a second; "
          f"load average {os.getloadavg()[0]:.2f}")
    for busy in [True] if "--busy-only" in sys.argv else (False, True):
        (n, ck, rec), (m_kept, m_ck, m_rec, m_img), (h_kept, h_ck, h_rec, h_img) = one(
            deja, duration, busy)
        name = "busy" if busy else "idle"
        minutes = duration / 60
        print(f"{name}: {n} checkpoints in {duration:.0f} s; per hour before thinning: "
              f"checkpoints+snapshots {ck * scale / mib:.1f} MiB, recordings "
              f"{rec * scale / mib:.1f} MiB")
        print(f"{name}: an hour 1 h to 1 d old after thinning ({m_kept} checkpoints kept of "
              f"{n}): recordings {m_rec * 60 / minutes / mib:.1f} MiB (what stays of "
              f"{minutes:.1f} minutes, times 60); checkpoints+snapshots of the run "
              f"{m_ck / mib:.1f} MiB, of which images {m_img / mib:.1f} MiB")
        print(f"{name}: an hour older than a day after thinning ({h_kept} checkpoint kept of "
              f"{n}): checkpoints+snapshots {h_ck / mib:.1f} MiB, recordings "
              f"{h_rec / mib:.3f} MiB; images {h_img / mib:.1f} MiB")


if __name__ == "__main__":
    main()
