"""Checkpoint downtime of a running session, as the catalog records it, plus the latency of
the whole `deja checkpoint` command. Usage: checkpoint_downtime.py DEJA [COUNT]."""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    deja = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    work = tempfile.mkdtemp(prefix="deja-bench-")
    store = os.path.join(work, "store")
    run = lambda *a: subprocess.run([deja, "--store", store, *a], check=True,
                                    capture_output=True, text=True).stdout
    sid = None
    try:
        run("init", "--size", "4G")
        # A session that keeps writing to its files, so every snapshot has something to take.
        sid = run("record", "--no-display", "--detach", "--interval", "0", "--", "sh", "-c",
                  "while :; do head -c 1048576 /dev/urandom > ~/blob; sleep 0.05; done").strip()
        latencies = []
        for _ in range(count):
            t0 = time.perf_counter()
            run("checkpoint", sid)
            latencies.append((time.perf_counter() - t0) * 1000)
        rows = json.loads(run("checkpoints", sid, "--json"))
        report(rows, latencies)
    finally:
        if sid:
            subprocess.run([deja, "--store", store, "stop", sid], capture_output=True)
        if os.path.ismount(os.path.join(store, "fs")):
            subprocess.run(["umount", os.path.join(store, "fs")], check=True)
        shutil.rmtree(work, ignore_errors=True)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def report(rows, latencies):
    downtime = [r["downtime_ms"] for r in rows]
    print(f"checkpoints: {len(rows)} (session rewriting 1 MiB every 50 ms)")
    print(f"downtime ms: median {statistics.median(downtime):.3f}  p99 {pct(downtime, 99):.3f}"
          f"  max {max(downtime):.3f}")
    for part in rows[0]["downtime_parts"]:
        values = [r["downtime_parts"][part] for r in rows]
        print(f"  {part:<10} median {statistics.median(values):.3f}  p99 {pct(values, 99):.3f}")
    print(f"deja checkpoint command ms: median {statistics.median(latencies):.3f}"
          f"  p99 {pct(latencies, 99):.3f}")


if __name__ == "__main__":
    main()
