"""Shared fixture for end-to-end tests: a fresh store in a temporary folder, the real deja
binary, and cleanup that runs even when a test fails: sessions the test started are stopped by
id, the store's file system is unmounted (its loop device clears itself), the folder removed."""

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import unittest

DEJA = os.environ.get("DEJA_BIN", "deja")
# Under sudo, sessions run as the user in SUDO_UID (docs/sessions.md); the tests expect the
# session's root unless they ask for a user, whoever runs them.
os.environ.pop("SUDO_UID", None)


def cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2":
                return fields[4]
    raise RuntimeError("no cgroup2 mount")


def session_cgroup(sid):
    return os.path.join(cgroup2_mount(), "deja", sid)


def running(pid):
    """True while `pid` exists and is not a zombie (the host's init reaps orphans slowly)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def host_pid(sid, pid_in_session):
    """The host PID of process `pid_in_session` of a session (from NSpid in its status)."""
    with open(os.path.join(session_cgroup(sid), "cgroup.procs")) as f:
        for pid in f.read().split():
            try:
                with open(f"/proc/{pid}/status") as st:
                    nspid = next(l for l in st if l.startswith("NSpid:")).split()
            except (FileNotFoundError, StopIteration):
                continue
            if int(nspid[-1]) == pid_in_session:
                return int(pid)
    raise LookupError(f"no process {pid_in_session} in session {sid}")


class StoreTestCase(unittest.TestCase):
    image_size = "1G"
    # Flags every record() adds (a subclass runs the same tests with --no-userns, say).
    record_flags = ()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="deja-e2e-")
        self.store = os.path.join(self.dir, "store")
        self.sessions = []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for sid in self.sessions:
            subprocess.run([DEJA, "--store", self.store, "stop", sid],
                           capture_output=True, timeout=60)
        mount = os.path.join(self.store, "fs")
        # A recorder that is still exiting may hold the file system for a moment; as a last
        # resort detach it lazily so nothing stays mounted (its loop device clears itself).
        for _ in range(100):
            if not os.path.ismount(mount):
                break
            if subprocess.run(["umount", mount], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", mount], check=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def deja(self, *args, check=True, timeout=120):
        """Runs deja on this test's store; returns the CompletedProcess."""
        p = subprocess.run([DEJA, "--store", self.store, *args], capture_output=True,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            self.fail(f"deja {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
        return p

    def catalog(self, sql, *args):
        """Rows of a query on the store's catalog."""
        db = sqlite3.connect(os.path.join(self.store, "catalog.db"))
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def deja_json(self, *args):
        return json.loads(self.deja(*args, "--json").stdout)

    def init(self):
        self.deja("init", "--size", self.image_size)

    def record(self, *command, interval="0", display=False):
        """Starts a detached session (without a display unless asked) and remembers it for
        cleanup."""
        screen = [] if display else ["--no-display"]
        sid = self.deja("record", *screen, *self.record_flags, "--detach", "--interval",
                        interval, "--", *command).stdout.strip()
        self.assertRegex(sid, r"^[0-9a-f]{8}$")
        self.sessions.append(sid)
        return sid

    def record_mapping(self, path):
        """Records a program that maps the host file `path` (made here, 8 KiB, removed at
        cleanup) and sleeps; returns the session id once the file is mapped."""
        with open(path, "wb") as f:
            f.write(b"x" * 8192)
        self.addCleanup(os.remove, path)
        sid = self.record("python3", "-u", "-c",
                          "import mmap, time\nf = open('" + path + "', 'rb')\n"
                          "m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\nprint('ready')\n"
                          "time.sleep(1000)")
        self.wait_for(lambda: "ready" in self.deja("logs", sid).stdout, "the program to map "
                      + path)
        return sid

    def session(self, sid):
        for s in self.deja_json("sessions"):
            if s["id"] == sid:
                return s
        self.fail(f"session {sid} not listed")

    def wait_for(self, predicate, what, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        self.fail(f"timed out waiting for {what}")

    def assert_one_line_error(self, proc, *fragments):
        self.assertNotEqual(proc.returncode, 0)
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertTrue(lines[0].startswith("deja: "), lines[0])
        for f in fragments:
            self.assertIn(f, lines[0])
