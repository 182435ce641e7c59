"""After a recorder is killed with SIGKILL: how long until the session is recorded again,
with `deja daemon` running. Prints, over ROUNDS kills of a session's recorder (a python
counter writing a file ten times a second, checkpoint interval 1 s): the time from the kill
to the new recorder answering (`deja sessions` says recording) and to the first checkpoint
committed after the kill, as median / max in ms.

usage: reattach.py DEJA [ROUNDS]"""

import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import time

from benchlib import temporary_store

COUNTER = ["python3", "-u", "-c",
           "import time\ni = 0\nwhile True:\n    i += 1\n"
           "    open('/tmp/n', 'w').write(str(i))\n    time.sleep(0.1)"]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def query(store, sql, *args):
    # A connection per query: a statement left open would pin an old snapshot of the WAL.
    db = sqlite3.connect(os.path.join(store, "catalog.db"))
    try:
        return db.execute(sql, args).fetchone()[0]
    finally:
        db.close()


def main():
    deja = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with temporary_store(deja) as (run, sessions, store):
        daemon = subprocess.Popen([deja, "--store", store, "daemon", "--scan", "1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            sid = run("record", "--no-display", "--detach", "--", *COUNTER).strip()
            sessions.append(sid)
            pid_sql = "SELECT supervisor_pid FROM sessions WHERE id = ?"
            newest_sql = "SELECT max(crid) FROM checkpoints WHERE session = ?"
            answer_ms, checkpoint_ms = [], []
            for _ in range(rounds):
                time.sleep(2.5)
                pid = query(store, pid_sql, sid)
                newest = query(store, newest_sql, sid)
                killed = time.monotonic()
                os.kill(pid, signal.SIGKILL)
                while alive(pid):
                    time.sleep(0.001)
                answered = None
                while True:
                    now = time.monotonic()
                    if answered is None:
                        if query(store, pid_sql, sid) not in (pid, None):
                            answered = now
                    latest = query(store, newest_sql, sid)
                    if answered is not None and latest is not None and latest > (newest or 0):
                        break
                    if now - killed > 30:
                        raise SystemExit("no checkpoint within 30 s of the kill")
                    time.sleep(0.005)
                answer_ms.append((answered - killed) * 1000)
                checkpoint_ms.append((now - killed) * 1000)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
    print(f"recorder kills: {rounds}; load average {os.getloadavg()[0]:.2f}")
    print(f"kill -> new recorder running: median {statistics.median(answer_ms):.0f} ms, "
          f"max {max(answer_ms):.0f} ms")
    print(f"kill -> first checkpoint committed: median {statistics.median(checkpoint_ms):.0f} "
          f"ms, max {max(checkpoint_ms):.0f} ms")


if __name__ == "__main__":
    main()
