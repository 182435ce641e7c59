"""deja view and deja frame on a live desktop session, measured from outside (medians):
- screen: a change of the session's screen until the viewer's window shows it;
- input: a pointer motion on the viewer's display until the session's X server has it;
- viewer CPU while the session's screen is still;
- `deja frame SESSION@<1 s ago>` as a new process (store and catalog opened each time);
- frames in process at random times after 40 s of a clock printing 5 times a second (all
  in the segment still being recorded, the one that has no index yet).

usage: view_latency.py DEJA VIEW_PROBE FRAME_PROBE [RUNS]"""

import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import (pct, process_cpu_seconds, session_started_ms,  # noqa: E402
                      start_clock_session, temporary_store)


def wait_for(predicate, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def iso(unix_seconds):
    t = datetime.datetime.fromtimestamp(unix_seconds, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def main():
    deja, probe, frame_probe = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 40
    print(f"load average before: {os.getloadavg()}")
    with temporary_store(deja) as (run, sessions, store), \
            tempfile.TemporaryDirectory(prefix="deja-view-bench-") as fbdir:
        sid = run("record", "--detach", "--interval", "0").strip()
        sessions.append(sid)
        number = next(n for n in range(400, 1000) if not os.path.exists(f"/tmp/.X{n}-lock"))
        display = f":{number}"
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1400x900x24", "-nolisten",
                                 "tcp", "-noreset", "-fbdir", fbdir],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        viewer = None
        try:
            fb = os.path.join(fbdir, "Xvfb_screen0")
            wait_for(lambda: os.path.exists(f"/tmp/.X11-unix/X{number}") and
                     os.path.exists(fb), "the viewer's Xvfb")
            env = {**os.environ, "DISPLAY": display}
            viewer = subprocess.Popen([deja, "--store", store, "view", sid], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for(lambda: subprocess.run(["xdotool", "search", "--name", "deja view"],
                                            env=env, capture_output=True).returncode == 0,
                     "the viewer's window")
            time.sleep(3)  # the desktop settles
            socket = os.path.join(store, "fs", "sessions", sid, "tmp", ".X11-unix", "X0")
            out = subprocess.run([probe, socket, display, fb, str(runs)], check=True,
                                 capture_output=True, text=True).stdout
            print(out, end="")
            # Idle CPU: the pointer rests outside the viewer, the session's screen is still.
            subprocess.run(["xdotool", "mousemove", "1390", "890"], env=env)
            time.sleep(1)
            idle = []
            for _ in range(3):
                c0, t0 = process_cpu_seconds(viewer.pid), time.monotonic()
                time.sleep(10)
                idle.append(100 * (process_cpu_seconds(viewer.pid) - c0) / (time.monotonic() - t0))
            print(f"viewer_cpu_idle_percent median {statistics.median(idle):.1f} "
                  f"(3 x 10 s: {', '.join(f'{v:.1f}' for v in idle)})")
            frames = []
            png = os.path.join(fbdir, "frame.png")
            for _ in range(10):
                t0 = time.monotonic()
                run("frame", f"{sid}@{iso(time.time() - 1)}", "-o", png)
                frames.append(1000 * (time.monotonic() - t0))
            print(f"deja_frame_live_ms median {statistics.median(frames):.0f} "
                  f"p95 {pct(frames, 95):.0f} (n=10, 1 s before now, open segment)")
            # A new session with a busy screen for 40 s (within its first 60 s segment, so
            # every moment is in the segment being recorded), then random moments.
            sid, clock = start_clock_session(deja, run, sessions, store)
            time.sleep(40)
            clock.terminate()
            clock.wait()
            out = subprocess.run([frame_probe, os.path.join(store, "catalog.db"),
                                  os.path.join(store, "fs", "recordings"), sid,
                                  str(session_started_ms(run, sid)), "100"],
                                 check=True, capture_output=True, text=True).stdout
            print(out, end="")
        finally:
            for p in (viewer, xvfb):
                if p and p.poll() is None:
                    p.terminate()
                    p.wait()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
