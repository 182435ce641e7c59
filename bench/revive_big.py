"""Issue 14's revive goal: a session whose one program holds SIZE MiB of written private memory
(bench_page_writer, rewriting nothing) is checkpointed once, then revived RUNS times through the
real `deja revive --detach`. Each revive is timed from the command to the branch running (the
command returns), and the branch's copy of the memory is then read through /proc/PID/mem and
compared byte for byte with what the program wrote (every page of it). Prints each run, the
median and the machine's load.

Usage: revive_big.py DEJA PROGRAMS_DIR [--size MIB] [--runs N]
PROGRAMS_DIR holds bench_page_writer (the build's bin folder)."""

import argparse
import json
import os
import shutil
import statistics
import time

from benchlib import temporary_store

PAGE = 4096


def cgroup2_mount():
    with open("/proc/self/mounts") as f:
        return next(line.split()[1] for line in f if line.split()[2] == "cgroup2")


def session_pids(sid):
    """Host PIDs of every process in the session's cgroup (and the groups below it)."""
    pids = []
    for folder, _, files in os.walk(f"{cgroup2_mount()}/deja/{sid}"):
        if "cgroup.procs" in files:
            with open(os.path.join(folder, "cgroup.procs")) as f:
                pids += [int(x) for x in f.read().split()]
    return pids


def writer_of(sid, timeout=60):
    """The host PID of the session's page_writer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in session_pids(sid):
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == "page_writer":
                        return pid
            except FileNotFoundError:
                pass
        time.sleep(0.05)
    raise SystemExit(f"session {sid} has no page_writer after {timeout} s")


def region(pid, size):
    """(start, end) of the writer's memory: the private anonymous mapping of `size` bytes."""
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            start, end = (int(x, 16) for x in parts[0].split("-"))
            if end - start == size and parts[1] == "rw-p" and len(parts) == 5:
                return start, end
    raise SystemExit(f"process {pid} has no {size}-byte private mapping")


def wait_written(pid, size, timeout=60):
    """Waits until the writer has touched all of its memory (resident anonymous >= size)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("RssAnon:")) * 1024
        if rss >= size:
            return
        time.sleep(0.05)
    raise SystemExit(f"process {pid} did not write its {size} bytes within {timeout} s")


def check_memory(pid, size):
    """None when the writer's memory is exactly what page_writer wrote (page i filled with the
    byte (i & 0xff) | 1), else where it first differs."""
    start, _ = region(pid, size)
    chunk_pages = 4096  # 16 MiB at a time
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for first in range(0, size // PAGE, chunk_pages):
            mem.seek(start + first * PAGE)
            got = mem.read(chunk_pages * PAGE)
            want = b"".join(bytes([(i & 0xFF) | 1]) * PAGE
                            for i in range(first, first + chunk_pages))
            if got != want:
                bad = next(i for i in range(len(want)) if i >= len(got) or got[i] != want[i])
                return f"byte {first * PAGE + bad} of {size} differs"
    return None


def stage(home, programs):
    staging = os.path.join(home, ".bin")
    os.mkdir(staging)
    shutil.copy(os.path.join(programs, "bench_page_writer"), os.path.join(staging, "page_writer"))
    os.rename(staging, os.path.join(home, "bin"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("deja")
    ap.add_argument("programs")
    ap.add_argument("--size", type=int, default=512, help="MiB of written memory (512)")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    size = args.size << 20
    with temporary_store(args.deja, "8G") as (run, sessions, store):
        script = ("while [ ! -d ~/bin ]; do sleep 0.05; done; "
                  f"exec ~/bin/page_writer {args.size} 0")
        sid = run("record", "--no-display", "--detach", "--interval", "0", "--",
                  "sh", "-c", script).strip()
        sessions.append(sid)
        stage(os.path.join(store, "fs", "sessions", sid, "home"), args.programs)
        original = writer_of(sid)
        wait_written(original, size)
        run("checkpoint", sid)
        crid = max(c["crid"] for c in json.loads(run("checkpoints", sid, "--json")))
        bad = check_memory(original, size)
        if bad:
            raise SystemExit(f"the original's memory is not what it wrote: {bad}")
        times = []
        failures = 0
        for r in range(args.runs):
            load = open("/proc/loadavg").read().split()[0]
            t = time.monotonic()
            branch = run("revive", f"{sid}:{crid}", "--detach").strip()
            running = time.monotonic() - t
            sessions.append(branch)
            bad = check_memory(writer_of(branch), size)
            failures += bad is not None
            times.append(running * 1000)
            print(f"run {r + 1}: revive -> running {running * 1000:.0f} ms (load {load}); "
                  f"memory {'FAIL: ' + bad if bad else 'same byte for byte'}", flush=True)
            run("stop", branch)
            sessions.remove(branch)
        print(f"revive of a {args.size} MiB process, median of {len(times)}: "
              f"{statistics.median(times):.0f} ms to running (min {min(times):.0f}, "
              f"max {max(times):.0f}); memory checked: {args.runs - failures} of {args.runs} same")
        print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
        if failures:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
