"""Storage a recorded desktop costs per hour, before and after thinning, for checkpoints
with their snapshots and for screen recordings separately. Records the desktop of
bench/desktop.py (twm, an xterm, a clock ticking every second) for DURATION seconds, idle, and
again busy (a terminal scrolling `ls -lR /usr` and a program rewriting 1 MiB of a file's pages
every second). Then extrapolates to an hour:
- before thinning: what the run stored (checkpoints: the growth of the store's used bytes,
  after btrfs commits, less the recordings and the session's live files; recordings: their
  segment bytes), times 3600 / DURATION;
- after thinning, for an hour older than a day (retention keeps one checkpoint an hour): the
  checkpoints of the run are aged into one hour and thinned by `deja gc`, the store measured
  again once btrfs has freed the deleted snapshots.

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
        # Age the run into one hour more than a day ago; retention then keeps its latest.
        db = sqlite3.connect(os.path.join(store, "catalog.db"))
        t0 = db.execute("SELECT min(time) FROM checkpoints").fetchone()[0]
        hour = (time.time() - 2 * 86400) // 3600 * 3600
        db.execute("UPDATE checkpoints SET time = ? + (time - ?) * 3000.0 / ?",
                   (hour, t0, max(duration, 1)))
        db.commit()
        db.close()
        run("gc")
        after_total = used_bytes(store) - base
        kept = len(json.loads(run("checkpoints", sid, "--json")))
        after = (kept, after_total - s["recordings_bytes"] - s["files_bytes"])
        return before, after


def main():
    deja = sys.argv[1]
    duration = float(sys.argv[2]) if len(sys.argv) > 2 else 120
    scale = 3600 / duration
    mib = 1 << 20
    print(f"desktop recorded {duration:.0f} s per run, one checkpoint a second; "
          f"load average {os.getloadavg()[0]:.2f}")
    for busy in [True] if "--busy-only" in sys.argv else (False, True):
        (n, ck, rec), (kept, ck_after) = one(deja, duration, busy)
        name = "busy" if busy else "idle"
        print(f"{name}: {n} checkpoints in {duration:.0f} s; per hour before thinning: "
              f"checkpoints+snapshots {ck * scale / mib:.1f} MiB, recordings "
              f"{rec * scale / mib:.1f} MiB")
        print(f"{name}: an hour older than a day after thinning ({kept} checkpoint kept of "
              f"{n}): checkpoints+snapshots {ck_after / mib:.1f} MiB (recordings are kept "
              f"whole until --keep-screen: {rec * scale / mib:.1f} MiB)")


if __name__ == "__main__":
    main()
