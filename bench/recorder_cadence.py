"""The issue 4 benchmark, counted from the session's start: a session checkpointed every
second (the default cadence) for DURATION seconds while it works. It reports when the first
checkpoint committed and the longest gap between commits (from the start to the end of the
window), the downtime (median, p99, parts) as the recorder records it, and beside it what the
session lived through: a stall meter inside the session (bench/programs/stall_meter.c) wakes
every 0.5 ms, and its worst gap around each checkpoint is reported next to that checkpoint's
downtime. Also image bytes per checkpoint and the recorder's CPU use since it started.

Workloads: `pages` (512 MiB, 1000 random pages rewritten a second), `sleep` (idle; no stall
meter, which would give every tick something to checkpoint), `python` (a python3 loop building
and dropping lists), `many` (20 small python3 loops), `idle200` (100 shells each waiting for a
sleep: 200 idle processes, the stall meter giving every tick something to checkpoint) and
`exec` (a shell loop starting short commands, as a desktop does: every new process is armed
and copied in full). The capture's cost per process is its median divided by the processes of
the newest image.

Usage: recorder_cadence.py DEJA PROGRAMS_DIR [--duration S] [--runs N] [WORKLOAD...]
PROGRAMS_DIR holds bench_page_writer and bench_stall_meter (the build's bin folder)."""

import argparse
import datetime
import json
import os
import re
import shutil
import sqlite3
import statistics
import time

from benchlib import pct, process_cpu_seconds, temporary_store

# The programs are copied into the session's home (the build folder may not be visible inside
# the container, e.g. under /tmp); the session waits for them, starts the stall meter beside
# the workload, then becomes the workload.
STAGE = "while [ ! -d ~/bin ]; do sleep 0.05; done; "
METER = "~/bin/stall_meter ~/stalls & "
WORKLOADS = {
    "pages": "exec ~/bin/page_writer 512 1000",
    "sleep": "exec sleep 100000",
    "python": "exec python3 -c 'import time\nwhile True:\n    x = [i * i for i in range(200000)]\n"
              "    time.sleep(0.05)'",
    # Closer to a desktop's count of processes: 20 small python3 loops under one shell.
    "many": "for i in $(seq 20); do python3 -c 'import time\nwhile True:\n"
            "    x = [i for i in range(20000)]\n    time.sleep(0.1)' & done; wait",
    # Many idle processes, as a desktop's shells and daemons (the `:` keeps sh from exec'ing).
    "idle200": "for i in $(seq 100); do sh -c 'sleep 100000; :' & done; wait",
    # About 15 new processes a second, each an exec of a short command.
    "exec": "while true; do ls / > /dev/null; date > ~/now; cat ~/now > /dev/null; sleep 0.2; "
            "done",
}
# A checkpoint's stall window: the work before its freeze (arming, copy ahead) and the thaw.
BEFORE_FREEZE, AFTER_FREEZE = 0.5, 0.2


def unix_time(iso):
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def stage(home, programs):
    staging = os.path.join(home, ".bin")
    os.mkdir(staging)
    for name in ("page_writer", "stall_meter"):
        shutil.copy(os.path.join(programs, f"bench_{name}"), os.path.join(staging, name))
    os.rename(staging, os.path.join(home, "bin"))


def read_stalls(home):
    """(start unix time, gap ms) of every gap over 2 ms the stall meter logged."""
    try:
        with open(os.path.join(home, "stalls")) as f:
            return [(float(a), float(b)) for a, b in (line.split() for line in f if line.strip())]
    except FileNotFoundError:
        return []


def run_workload(deja, programs, name, duration):
    """Runs one workload for `duration` seconds from the session's start; prints its report
    and returns its headline figures."""
    with temporary_store(deja, "8G") as (run, sessions, store):
        script = STAGE + ("" if name == "sleep" else METER) + WORKLOADS[name]
        sid = run("record", "--no-display", "--detach", "--", "sh", "-c", script).strip()
        sessions.append(sid)
        home = os.path.join(store, "fs", "sessions", sid, "home")
        stage(home, programs)
        db = sqlite3.connect(os.path.join(store, "catalog.db"))
        [recorder] = db.execute("SELECT supervisor_pid FROM sessions WHERE id = ?",
                                (sid,)).fetchone()
        db.close()
        started = next(s for s in json.loads(run("sessions", "--json"))
                       if s["id"] == sid)["started"]
        started = unix_time(started)
        time.sleep(max(0.0, started + duration - time.time()))
        elapsed = time.time() - started
        cpu = process_cpu_seconds(recorder) / elapsed
        rows = json.loads(run("checkpoints", sid, "--json"))
        with open(os.path.join(store, "run", f"{sid}.log")) as f:
            behind = len(re.findall("fell behind", f.read()))
        figures = report(name, rows, cpu, elapsed, read_stalls(home), behind)
        if len(rows) > 1:
            tables(run, store, rows)
            figures.update(per_process(run, store, rows))
        return figures


def record_bytes(r):
    """Bytes of a packed pagetable or pageinherit record on disk: framing (20 + 4), small
    fields (at most ~12 bytes) and the packed blob."""
    blob = r.get("refs") or r.get("ranges")
    return 24 + 12 + blob["bytes"]


def per_process(run, store, rows):
    """The capture's median (pages apart) per process of the newest image."""
    image = json.loads(run("image", "show", os.path.join(store, "fs", "images", rows[-1]["image"])))
    processes = sum(1 for r in image["records"] if r["type"] == "task")
    capture = statistics.median(r["downtime_parts"].get("capture", 0) for r in rows[1:])
    print(f"   processes {processes}: capture per process {capture / max(processes, 1):.3f} ms")
    return {"capture per process ms": capture / max(processes, 1)}


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


def report(name, rows, cpu, elapsed, stalls, behind):
    times = [r["t"] for r in rows]
    gaps = [b - a for a, b in zip([0.0] + times, times + [elapsed])]
    longest = max(range(len(gaps)), key=gaps.__getitem__)
    print(f"== {name}: {len(rows)} checkpoints in the first {elapsed:.1f} s of the session, "
          f"recorder CPU {cpu * 100:.1f}% of a core; write-back fell behind {behind} times")
    figures = {"checkpoints": len(rows), "cpu %": cpu * 100, "longest gap s": gaps[longest]}
    start = 0.0 if longest == 0 else times[longest - 1]
    print(f"   first checkpoint at {times[0]:.2f} s" if rows else "   no checkpoint", end="")
    print(f"; longest gap between commits {gaps[longest]:.2f} s (from {start:.2f} s)")
    if not rows:
        return figures
    figures["first checkpoint s"] = times[0]
    first = rows[0]
    parts = "  ".join(f"{k} {v:.2f}" for k, v in first["downtime_parts"].items())
    print(f"   first checkpoint (full): downtime {first['downtime_ms']:.2f} ms ({parts}),"
          f" image {first['image_bytes']} bytes")
    later = rows[1:]
    if not later:
        return figures
    downtime = [r["downtime_ms"] for r in later]
    figures["downtime median ms"] = statistics.median(downtime)
    figures["downtime p99 ms"] = pct(downtime, 99)
    print(f"   after the first: downtime ms median {figures['downtime median ms']:.3f}"
          f"  p99 {figures['downtime p99 ms']:.3f}")
    for part in later[-1]["downtime_parts"]:
        values = [r["downtime_parts"].get(part, 0) for r in later]
        print(f"     {part:<10} median {statistics.median(values):.3f}  p99 {pct(values, 99):.3f}")
    if stalls:
        figures.update(stall_report(rows, stalls))
    sizes = [r["image_bytes"] for r in later]
    written = [r["pages_written"] * 4096 for r in later]
    print(f"   image bytes/checkpoint: median {statistics.median(sizes):.0f}"
          f"  written bytes/checkpoint: median {statistics.median(written):.0f}"
          f"  ({statistics.median(written) / 4096:.0f} pages)")
    if sum(written):
        ratios = [s / w for s, w in zip(sizes, written) if w]
        print(f"   image bytes / written bytes: overall {sum(sizes) / sum(written):.2f}x"
              f"  median {statistics.median(ratios):.2f}x  max {max(ratios):.2f}x")
    return figures


def stall_report(rows, stalls):
    """The session's worst stall around each checkpoint, beside the recorder's downtime, and
    the stalls away from any checkpoint (a busy machine's own)."""
    worst, near = [], set()
    for r in rows:
        t = unix_time(r["time"])
        hits = [i for i, (s, g) in enumerate(stalls)
                if s < t + AFTER_FREEZE and s + g / 1e3 > t - BEFORE_FREEZE]
        near.update(hits)
        worst.append(max((stalls[i][1] for i in hits), default=0.0))
    print("   session's worst stall around each checkpoint, ms (recorder's downtime):")
    print("     " + "  ".join(f"{w:.1f} ({r['downtime_ms']:.1f})" for w, r in zip(worst, rows)))
    print(f"   worst stall per checkpoint: median {statistics.median(worst[1:]):.2f} ms  max "
          f"{max(worst[1:]):.2f} ms after the first; first {worst[0]:.2f} ms")
    away = [g for i, (_, g) in enumerate(stalls) if i not in near]
    print(f"   stalls over 2 ms away from checkpoints: {len(away)}, worst "
          f"{max(away, default=0):.2f} ms")
    return {"worst stall median ms": statistics.median(worst[1:]),
            "worst stall max ms": max(worst[1:]), "first checkpoint stall ms": worst[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("deja")
    ap.add_argument("programs")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("workloads", nargs="*", metavar="WORKLOAD", help=", ".join(WORKLOADS))
    args = ap.parse_intermixed_args()
    for name in args.workloads:
        if name not in WORKLOADS:
            ap.error(f"unknown workload {name}; choose from {', '.join(WORKLOADS)}")
    with open("/proc/loadavg") as f:
        print(f"load average at start: {' '.join(f.read().split()[:3])}; "
              f"{os.cpu_count()} CPUs")
    for name in args.workloads or ["pages", "sleep", "python", "exec"]:
        runs = [run_workload(args.deja, args.programs, name, args.duration)
                for _ in range(args.runs)]
        if args.runs > 1:
            print(f"== {name}: medians of {args.runs} runs")
            for key in runs[0]:
                values = [r[key] for r in runs if key in r]
                print(f"   {key:<26} {statistics.median(values):9.2f}   (runs: "
                      f"{', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
