"""The issue 4 benchmark: a session checkpointed every second for DURATION seconds while it
works, then the downtime (median, p99, parts), image bytes per checkpoint and the recorder's
CPU use. Workloads: `pages` (512 MiB, 1000 random pages rewritten a second), `sleep` (idle)
and `python` (a python3 loop building and dropping lists).
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
        cpu0, t0 = cpu_seconds(recorder), time.monotonic()
        time.sleep(duration)
        cpu = (cpu_seconds(recorder) - cpu0) / (time.monotonic() - t0)
        report(name, json.loads(run("checkpoints", sid, "--json")), cpu, duration)


def report(name, rows, cpu, duration):
    print(f"== {name}: {len(rows)} checkpoints in {duration} s, recorder CPU {cpu * 100:.1f}% of a core")
    if not rows:
        print("   (nothing changed: every checkpoint was skipped)")
        return
    downtime = [r["downtime_ms"] for r in rows]
    print(f"   downtime ms: median {statistics.median(downtime):.3f}  p99 {pct(downtime, 99):.3f}")
    for part in rows[-1]["downtime_parts"]:
        values = [r["downtime_parts"].get(part, 0) for r in rows]
        print(f"     {part:<10} median {statistics.median(values):.3f}  p99 {pct(values, 99):.3f}")
    sizes = [r["image_bytes"] for r in rows[1:]] or [0]
    written = [r["pages_written"] * 4096 for r in rows[1:]] or [0]
    print(f"   image bytes/checkpoint (after the first): median {statistics.median(sizes):.0f}"
          f"  pages written/checkpoint: median {statistics.median(written) / 4096:.0f}")


def main():
    deja, writer = sys.argv[1], os.path.abspath(sys.argv[2])
    duration = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    for name in sys.argv[4:] or ["pages", "sleep", "python"]:
        run_workload(deja, writer, name, duration)


if __name__ == "__main__":
    main()
