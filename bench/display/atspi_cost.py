"""The recorder's CPU with and without text from the accessibility bus: a recorded session
runs a GTK 3 window (a label and a 40-line text view, one line added every 2 s, so the
screen changes and settles every 2 s) for DURATION seconds, once with GTK's accessibility
bridge (the recorder reads its text) and once with NO_AT_BRIDGE=1 (no accessibility bus:
OCR only), runs interleaved. Prints per run the recorder process's CPU (% of one core,
checkpoints off), that of its accessibility reader thread alone, the lines indexed by
source and the load average, then the medians.

Usage: atspi_cost.py DEJA [DURATION] [--runs N]"""

import os
import sqlite3
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import process_cpu_seconds, take_runs, temporary_store  # noqa: E402

APP = """
import gi
gi.require_version("Gtk", "3.0")
from gi.repository import GLib, Gtk
w = Gtk.Window(title="atspi cost")
w.set_default_size(700, 560)
w.move(10, 10)
box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL)
label = Gtk.Label(label="line 0")
box.add(label)
view = Gtk.TextView()
buf = view.get_buffer()
buf.set_text("\\n".join("words of line %d in the view" % i for i in range(40)))
box.add(view)
w.add(box)
w.show_all()
n = [40]
def add():
    n[0] += 1
    label.set_text("line %d" % n[0])
    buf.insert(buf.get_start_iter(), "a new line %d of the view\\n" % n[0])
    return True
GLib.timeout_add(2000, add)
Gtk.main()
"""


def thread_cpu_seconds(pid, name):
    """CPU seconds of the threads of `pid` called `name`."""
    total = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() != name:
                    continue
            total += process_cpu_seconds(f"{pid}/task/{tid}")
        except FileNotFoundError:
            pass
    return total


def one_run(deja, duration, bridge):
    with temporary_store(deja) as (run, sessions, store):
        env = "" if bridge else "NO_AT_BRIDGE=1 "
        script = f"{env}exec dbus-run-session -- /usr/bin/python3 -c '{APP}'"
        sid = run("record", "--detach", "--geometry", "1024x600", "--interval", "0",
                  "--", "sh", "-c", script).strip()
        sessions.append(sid)
        db = sqlite3.connect(os.path.join(store, "catalog.db"), timeout=5)
        [recorder] = db.execute("SELECT supervisor_pid FROM sessions WHERE id = ?",
                                (sid,)).fetchone()
        time.sleep(5)  # the app starts, its first screen is read
        cpu0, t0 = process_cpu_seconds(recorder), time.monotonic()
        reader0 = thread_cpu_seconds(recorder, "deja-atspi")
        time.sleep(duration)
        elapsed = time.monotonic() - t0
        cpu = (process_cpu_seconds(recorder) - cpu0) / elapsed
        reader = (thread_cpu_seconds(recorder, "deja-atspi") - reader0) / elapsed
        rows = dict(db.execute("SELECT source, count(*) FROM display_text WHERE session = ? "
                               "GROUP BY source", (sid,)).fetchall())
        db.close()
        return cpu, reader, rows


def main():
    args = sys.argv[1:]
    runs = take_runs(args, 3)
    deja = args[0]
    duration = float(args[1]) if len(args) > 1 else 40
    results = {True: [], False: []}
    readers = []
    for r in range(runs):
        for bridge in (True, False):
            load = os.getloadavg()[0]
            cpu, reader, rows = one_run(deja, duration, bridge)
            results[bridge].append(cpu)
            if bridge:
                readers.append(reader)
            print(f"run {r + 1} {'with' if bridge else 'without'} accessibility: recorder CPU "
                  f"{cpu * 100:.1f}% of a core (accessibility reader thread {reader * 100:.2f}%); lines ocr {rows.get('ocr', 0)}, atspi "
                  f"{rows.get('atspi', 0)}; load {load:.1f} -> {os.getloadavg()[0]:.1f}",
                  flush=True)
    for bridge in (True, False):
        print(f"median {'with' if bridge else 'without'}: "
              f"{statistics.median(results[bridge]) * 100:.1f}%")
    print(f"median accessibility reader thread: {statistics.median(readers) * 100:.2f}%")


if __name__ == "__main__":
    main()
