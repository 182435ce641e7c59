"""Checkpoint downtime of a running session, as the catalog records it, plus the latency of
the whole `deja checkpoint` command. Usage: checkpoint_downtime.py DEJA [COUNT]."""

import json
import statistics
import sys
import time

from benchlib import pct, temporary_store


def main():
    deja = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    with temporary_store(deja) as (run, sessions, _):
        # A session that keeps writing to its files, so every snapshot has something to take.
        sid = run("record", "--no-display", "--detach", "--interval", "0", "--", "sh", "-c",
                  "while :; do head -c 1048576 /dev/urandom > ~/blob; sleep 0.05; done").strip()
        sessions.append(sid)
        latencies = []
        for _ in range(count):
            t0 = time.perf_counter()
            run("checkpoint", sid)
            latencies.append((time.perf_counter() - t0) * 1000)
        report(json.loads(run("checkpoints", sid, "--json")), latencies)


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
