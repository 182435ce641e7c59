"""The issue 4 benchmark: a session checkpointed every second for DURATION seconds while it
works, then the downtime (median, p99, parts), image bytes per checkpoint and the recorder's
CPU use (from the commit of the first, full, checkpoint on). Workloads: `pages` (512 MiB, 1000 random pages rewritten a second), `sleep` (idle),
`python` (a python3 loop building and dropping lists) and `many` (20 small python3 loops).
Usage: recorder_cadence.py DEJA PAGE_WRITER [DURATION] [WORKLOAD...]"""

import json
import os
import shutil
import sqlite3
import statistics
import sys
import time

from benchlib import pct, temporary_store

# The page writer is copied into the session's home (the build folder may not be visible
# inside the container, e.g. under /tmp); the session waits for it, then becomes it.
STAGED_WRITER = ["sh", "-c", "while [ ! -x ~/prog ]; do sleep 0.05; done; exec ~/prog 512 1000"]
WORKLOADS = {
    "pages": lambda writer: STAGED_WRITER,
    "sleep": lambda writer: ["sleep", "100000"],
    "python": lambda writer: ["python3", "-c",
                              "import time\nwhile True:\n    x = [i * i for i in range(200000)]\n"
                              "    time.sleep(0.05)"],
    # Closer to a desktop's count of processes: 20 small python3 loops under one shell.
    "many": lambda writer: ["sh", "-c",
                            "for i in $(seq 20); do python3 -c 'import time\nwhile True:\n"
                            "    x = [i for i in range(20000)]\n    time.sleep(0.1)' & done; wait"],
}


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_workload(deja, writer, name, duration):
    with temporary_store(deja, "8G") as (run, sessions, store):
        sid = run("record", "--no-display", "--detach", "--interval", "1", "--",
                  *WORKLOADS[name](writer)).strip()
        sessions.append(sid)
        if name == "pages":
            home = os.path.join(store, "fs", "sessions", sid, "home")
            shutil.copy(writer, os.path.join(home, ".prog"))
            os.rename(os.path.join(home, ".prog"), os.path.join(home, "prog"))
        db = sqlite3.connect(os.path.join(store, "catalog.db"))
        [recorder] = db.execute("SELECT supervisor_pid FROM sessions WHERE id = ?",
                                (sid,)).fetchone()
        db.close()
        # The first checkpoint is a full image (512 MiB for `pages`): measure the cadence
        # from its commit on.
        deadline = time.monotonic() + 120
        while not json.loads(run("checkpoints", sid, "--json")) and time.monotonic() < deadline:
            time.sleep(0.1)
        first = json.loads(run("checkpoints", sid, "--json"))
        cpu0, t0 = cpu_seconds(recorder), time.monotonic()
        time.sleep(duration)
        cpu = (cpu_seconds(recorder) - cpu0) / (time.monotonic() - t0)
        rows = json.loads(run("checkpoints", sid, "--json"))
        report(name, rows, cpu, duration, len(first))
        if len(rows) > 1:
            tables(run, store, rows)


def record_bytes(r):
    """Bytes of a packed pagetable or pageinherit record on disk: framing (20 + 4), small
    fields (at most ~12 bytes) and the packed blob."""
    blob = r.get("refs") or r.get("ranges")
    return 24 + 12 + blob["bytes"]


def tables(run, store, rows):
    """The reference tables of the newest image and of the last one that lists all its
    references (every 16th; the others inherit from it)."""
    def sizes(row):
        image = json.loads(run("image", "show", os.path.join(store, "fs", "images", row["image"])))
        kinds = {"pagetable": 0, "pageinherit": 0}
        for r in image["records"]:
            if r["type"] in kinds:
                kinds[r["type"]] += record_bytes(r)
        return kinds

    def show(label, row, kinds):
        data = row["pages_written"] * 4096
        print(f"   {label} (CRID {row['crid']}): table {kinds['pagetable']} bytes, inherited "
              f"ranges {kinds['pageinherit']} bytes ({sum(kinds.values()) / max(data, 1):.2f}x its "
              f"{data} bytes of written pages)")

    show("newest image", rows[-1], sizes(rows[-1]))
    for row in reversed(rows[-17:-1]):
        kinds = sizes(row)
        if not kinds["pageinherit"]:
            show("last full table", row, kinds)
            break


def report(name, rows, cpu, duration, before):
    for r in rows[:before]:
        parts = "  ".join(f"{k} {v:.2f}" for k, v in r["downtime_parts"].items())
        print(f"   first checkpoint (full): downtime {r['downtime_ms']:.2f} ms ({parts}),"
              f" image {r['image_bytes']} bytes")
    rows = rows[before:] if before else rows
    print(f"== {name}: {len(rows)} checkpoints in {duration} s after the first, recorder CPU "
          f"{cpu * 100:.1f}% of a core")
    if not rows:
        print("   (nothing changed: every checkpoint was skipped)")
        return
    downtime = [r["downtime_ms"] for r in rows]
    print(f"   downtime ms: median {statistics.median(downtime):.3f}  p99 {pct(downtime, 99):.3f}")
    for part in rows[-1]["downtime_parts"]:
        values = [r["downtime_parts"].get(part, 0) for r in rows]
        print(f"     {part:<10} median {statistics.median(values):.3f}  p99 {pct(values, 99):.3f}")
    sizes = [r["image_bytes"] for r in rows]
    written = [r["pages_written"] * 4096 for r in rows]
    print(f"   image bytes/checkpoint: median {statistics.median(sizes):.0f}"
          f"  written bytes/checkpoint: median {statistics.median(written):.0f}"
          f"  ({statistics.median(written) / 4096:.0f} pages)")
    if sum(written):
        ratios = [s / w for s, w in zip(sizes, written) if w]
        print(f"   image bytes / written bytes: overall {sum(sizes) / sum(written):.2f}x"
              f"  median {statistics.median(ratios):.2f}x  max {max(ratios):.2f}x")


def main():
    deja, writer = sys.argv[1], os.path.abspath(sys.argv[2])
    duration = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    for name in sys.argv[4:] or ["pages", "sleep", "python"]:
        run_workload(deja, writer, name, duration)


if __name__ == "__main__":
    main()
