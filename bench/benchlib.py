"""What the benchmarks share: a temporary store that is always taken down, and percentiles."""

import contextlib
import datetime
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def process_cpu_seconds(pid):
    """User + system CPU seconds process `pid` has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def take_runs(args, default):
    """The number after --runs in `args` (taken out of them), else `default`."""
    if "--runs" not in args:
        return default
    i = args.index("--runs")
    runs = int(args[i + 1])
    del args[i:i + 2]
    return runs


@contextlib.contextmanager
def temporary_store(deja, size="4G"):
    """Yields run(*args) -> stdout for deja on a new store, and a list to which the caller
    appends session ids; on exit those sessions are stopped and the store removed."""
    work = tempfile.mkdtemp(prefix="deja-bench-")
    store = os.path.join(work, "store")
    sessions = []

    def run(*args):
        return subprocess.run([deja, "--store", store, *args], check=True,
                              capture_output=True, text=True).stdout

    try:
        run("init", "--size", size)
        yield run, sessions, store
    finally:
        for sid in sessions:
            subprocess.run([deja, "--store", store, "stop", sid], capture_output=True)
        if os.path.ismount(os.path.join(store, "fs")):
            subprocess.run(["umount", os.path.join(store, "fs")], check=True)
        shutil.rmtree(work, ignore_errors=True)


def first_frame_seconds(store, sid, t0, timeout=20):
    """Seconds from t0 (time.monotonic) until session `sid`'s first screen segment holds data;
    nan if it never does within `timeout`."""
    db = sqlite3.connect(os.path.join(store, "catalog.db"), timeout=5)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = db.execute("SELECT file FROM display_segments WHERE session = ? ORDER BY id LIMIT 1",
                             (sid,)).fetchone()
            if row:
                path = os.path.join(store, "fs", "recordings", row[0])
                if os.path.exists(path) and os.path.getsize(path) > 0:
                    return time.monotonic() - t0
            time.sleep(0.005)
        return float("nan")
    finally:
        db.close()


def start_clock_session(deja, run, sessions, store):
    """Records a default desktop session whose terminal prints the time five times a second (a
    screen that never settles); returns its id and the clock process, for the caller to end."""
    sid = run("record", "--detach", "--interval", "0").strip()
    sessions.append(sid)
    time.sleep(1)
    clock = subprocess.Popen([deja, "--store", store, "exec", sid, "--", "sh", "-c",
                              "while :; do date +%T.%N; sleep 0.2; done > /dev/pts/0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return sid, clock


@contextlib.contextmanager
def clock_session_store(deja):
    """A temporary store recording a clock session (start_clock_session); yields (run, store,
    sid, start_ms) and takes the clock, the session and the store down on exit."""
    with temporary_store(deja) as (run, sessions, store):
        sid, clock = start_clock_session(deja, run, sessions, store)
        try:
            yield run, store, sid, session_started_ms(run, sid)
        finally:
            clock.terminate()
            clock.wait()


def wait_recorded(start_ms, seconds):
    """Sleeps until the session started at Unix ms `start_ms` has recorded `seconds`."""
    time.sleep(max(0.0, start_ms / 1000 + seconds - time.time()))
    print(f"after {seconds} s of recording:")


def session_started_ms(run, sid):
    """When session `sid` started, in Unix milliseconds (deja sessions --json)."""
    started = next(s for s in json.loads(run("sessions", "--json")) if s["id"] == sid)["started"]
    return int(datetime.datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp() * 1000)
