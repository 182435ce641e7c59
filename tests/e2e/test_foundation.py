"""The foundation end to end: store, catalog, session container, checkpoint skeleton, and
the errors for bad input."""

import os
import signal
import sqlite3
import subprocess

from harness import DEJA, StoreTestCase, running, session_cgroup


def btrfs_show(path):
    return subprocess.run(["btrfs", "subvolume", "show", path], capture_output=True,
                          text=True, check=True).stdout


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def mounts_under(prefix):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


class FoundationTest(StoreTestCase):
    def test_record_checkpoint_stop_leaves_only_the_store(self):
        out = self.deja("init", "--size", self.image_size).stdout.strip()
        self.assertEqual(out, os.path.realpath(self.store))
        self.assertEqual(os.stat(self.store).st_mode & 0o777, 0o700)

        sid = self.record("sleep", "1000")
        session = self.session(sid)
        self.assertEqual(session["state"], "recording")
        self.assertIsNone(session["parent"])

        # Alone in its PID namespace: its init, the sleep, and the ps we run.
        ps = self.deja("exec", sid, "--", "ps", "-e", "-o", "pid=,comm=").stdout.split("\n")
        procs = sorted(line.split(None, 1)[1] for line in ps if line.strip())
        self.assertEqual(procs, ["deja-init", "ps", "sleep"])
        pids = sorted(int(line.split()[0]) for line in ps if line.strip())
        self.assertEqual(pids[:2], [1, 2])

        # The container's files: home, /tmp and /run are the session's; the host is read-only.
        self.deja("exec", sid, "--", "sh", "-c", "echo kept > ~/note && touch /tmp/t /run/r")
        ro = self.deja("exec", sid, "--", "touch", "/usr/deja-should-not-exist", check=False)
        self.assertNotEqual(ro.returncode, 0)
        self.assertFalse(os.path.exists("/usr/deja-should-not-exist"))

        crids = [int(self.deja("checkpoint", sid).stdout) for _ in range(3)]
        self.assertEqual(crids, sorted(set(crids)))
        listed = self.deja_json("checkpoints", sid)
        self.assertEqual([c["crid"] for c in listed], crids)
        for c in listed:
            self.assertGreater(c["downtime_ms"], 0)
            self.assertEqual(set(c["downtime_parts"]), {"freeze", "capture", "pages", "snapshot", "thaw"})
            self.assertGreater(c["image_bytes"], 0)
            show = btrfs_show(c["snapshot"])
            self.assertIn(f"Subvolume ID: \t\t{c['fsid']}", show)
            self.assertRegex(show, r"Flags:\s+readonly")
            self.assertEqual(read_bytes(os.path.join(c["snapshot"], "home", "note")), b"kept\n")
        self.assertEqual(self.session(sid)["checkpoints"], 3)

        init_pid = int(read_bytes(os.path.join(session_cgroup(sid), "cgroup.procs")).split()[0])
        self.deja("stop", sid)
        self.assertEqual(self.session(sid)["state"], "stopped")
        self.assertFalse(running(init_pid))
        self.assertFalse(os.path.exists(session_cgroup(sid)))
        real = os.path.realpath(self.store)
        self.assertEqual(mounts_under(real), [os.path.join(real, "fs")])
        # Checkpoints outlive the session.
        self.assertEqual(len(self.deja_json("checkpoints", sid)), 3)

    def test_store_is_mounted_again_after_an_unmount(self):
        self.init()
        fs = os.path.join(self.store, "fs")
        image = os.path.join(self.store, "store.btrfs")
        subprocess.run(["umount", fs], check=True)
        # The loop device cleared itself with the unmount (as after a reboot).
        loops = subprocess.run(["losetup", "-j", image], capture_output=True, text=True).stdout
        self.assertEqual(loops.strip(), "")
        self.assertEqual(self.deja_json("sessions"), [])
        self.assertTrue(os.path.ismount(fs))
        self.assertTrue(os.path.isdir(os.path.join(fs, "sessions")))

    def test_session_ends_when_its_command_exits(self):
        self.init()
        p = self.deja("record", "--no-display", "--interval", "0", "--", "sh", "-c",
                      "echo out-line; echo err-line >&2; exit 3", check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        [s] = self.deja_json("sessions")
        self.assertEqual(s["state"], "stopped")
        self.assertEqual(s["exit_status"], 3)
        log = self.deja("logs", s["id"]).stdout
        self.assertIn("out-line", log)
        self.assertIn("err-line", log)

    def test_exec_passes_exit_status_and_output(self):
        self.init()
        sid = self.record("sleep", "1000")
        p = self.deja("exec", sid, "--", "sh", "-c", "hostname; exit 7", check=False)
        self.assertEqual(p.returncode, 7)
        self.assertEqual(p.stdout.strip(), f"deja-{sid}")
        # Terminals come from the session's own devpts: the first one is number 0.
        tty = self.deja("exec", sid, "--", "python3", "-c",
                        "import os, pty; m, s = pty.openpty(); print(os.ttyname(s))")
        self.assertEqual(tty.stdout.strip(), "/dev/pts/0")

    def test_exec_left_running_ends_with_the_session(self):
        self.init()
        sid = self.record("sleep", "1000")
        self.deja("exec", sid, "--", "sh", "-c", "sleep 1000 > /dev/null 2>&1 &")
        beside = session_cgroup(sid) + ".exec"
        self.assertTrue(os.path.isdir(beside), "deja exec's group is gone while its command runs")
        self.deja("stop", sid)
        self.assertFalse(os.path.exists(beside), "deja exec's group outlived the session")

    def test_periodic_checkpoints_skip_when_nothing_changed(self):
        self.init()
        sid = self.record("sleep", "1000", interval="0.2")
        self.wait_for(lambda: self.session(sid)["checkpoints"] >= 1, "a first checkpoint")
        # Nothing is written: the count must not grow over many intervals.
        count = self.session(sid)["checkpoints"]
        subprocess.run(["sleep", "1.5"])
        self.assertEqual(self.session(sid)["checkpoints"], count)
        self.deja("exec", sid, "--", "sh", "-c", "echo change > ~/f")
        self.wait_for(lambda: self.session(sid)["checkpoints"] > count, "a checkpoint after a write")

    def test_recorder_killed_while_frozen_leaves_session_running(self):
        self.init()
        sid = self.record("sleep", "1000")
        self.deja("checkpoint", sid)
        db = sqlite3.connect(os.path.join(self.store, "catalog.db"))
        [recorder] = db.execute("SELECT supervisor_pid FROM sessions WHERE id = ?", (sid,)).fetchone()
        db.close()
        cg = session_cgroup(sid)
        with open(os.path.join(cg, "cgroup.freeze"), "w") as f:
            f.write("1")
        frozen = lambda want: f"frozen {want}" in read_bytes(os.path.join(cg, "cgroup.events")).decode()
        self.wait_for(lambda: frozen(1), "the session to freeze")
        os.kill(recorder, signal.SIGKILL)
        self.wait_for(lambda: frozen(0), "the guard to thaw the session")
        sleeper = [p for p in read_bytes(os.path.join(cg, "cgroup.procs")).split() if p]
        self.assertEqual(len(sleeper), 2)  # deja-init and sleep, still running
        # Its processes run on without a recorder: unrecorded, until deja attach or deja daemon.
        self.assertEqual(self.session(sid)["state"], "unrecorded")
        self.assertEqual(len(self.deja_json("checkpoints", sid)), 1)
        # Without a recorder, stop still ends what is left.
        self.deja("stop", sid)
        self.assertFalse(os.path.exists(cg))
        for pid in sleeper:
            self.assertFalse(running(int(pid)))
        self.assert_one_line_error(self.deja("stop", sid, check=False), "already stopped")


class BadInputTest(StoreTestCase):
    def test_store_path_that_is_a_file(self):
        os.makedirs(self.dir, exist_ok=True)
        with open(self.store, "w") as f:
            f.write("not a store")
        p = self.deja("init", check=False)
        self.assert_one_line_error(p, self.store, "not a folder")
        self.assertEqual(read_bytes(self.store), b"not a store")

    def test_catalog_from_a_newer_version(self):
        self.init()
        catalog = os.path.join(self.store, "catalog.db")
        db = sqlite3.connect(catalog)
        db.execute("PRAGMA user_version = 99")
        db.close()
        before = read_bytes(catalog)
        p = self.deja("sessions", check=False)
        self.assert_one_line_error(p, "newer than this deja")
        self.assertEqual(read_bytes(catalog), before)

    def test_unknown_session(self):
        self.init()
        for args in (["checkpoint", "feedbeef"], ["checkpoints", "feedbeef"],
                     ["stop", "feedbeef"], ["logs", "feedbeef"],
                     ["exec", "feedbeef", "--", "true"]):
            self.assert_one_line_error(self.deja(*args, check=False), "feedbeef")

    def test_checkpoint_of_a_stopped_session(self):
        self.init()
        sid = self.record("sleep", "1000")
        self.deja("checkpoint", sid)
        self.deja("stop", sid)
        p = self.deja("checkpoint", sid, check=False)
        self.assert_one_line_error(p, sid, "not running")
        self.assertEqual(len(self.deja_json("checkpoints", sid)), 1)

    def test_checkpoint_on_a_full_store(self):
        """The session fills the store's file system: a checkpoint then fails with one line
        that says so, commits nothing and leaves the session running, not frozen; once room
        is made, checkpoints work again."""
        self.init()
        sid = self.record("sleep", "1000")
        self.deja("checkpoint", sid)
        images = sorted(os.listdir(os.path.join(self.store, "fs", "images", sid)))
        self.deja("exec", sid, "--", "sh", "-c",
                  "dd if=/dev/zero of=$HOME/filler bs=1M 2>/dev/null; sync; true")
        p = self.deja("checkpoint", sid, check=False)
        self.assert_one_line_error(p, sid, "No space left on device")
        self.assertEqual(len(self.deja_json("checkpoints", sid)), 1)
        self.assertEqual(sorted(os.listdir(os.path.join(self.store, "fs", "images", sid))),
                         images)
        events = read_bytes(os.path.join(session_cgroup(sid), "cgroup.events")).decode()
        self.assertIn("frozen 0", events)
        self.assertEqual(self.session(sid)["state"], "recording")
        self.deja("exec", sid, "--", "sh", "-c", "rm $HOME/filler; sync")
        self.wait_for(lambda: self.deja("checkpoint", sid, check=False).returncode == 0,
                      "a checkpoint once the filler is removed", timeout=30)
        self.assertEqual(len(self.deja_json("checkpoints", sid)), 2)

    def test_command_not_found_leaves_nothing(self):
        self.init()
        p = self.deja("record", "--no-display", "--", "no-such-program-here", check=False)
        self.assert_one_line_error(p, "no-such-program-here")
        self.assertEqual(self.deja_json("sessions"), [])
        self.assertEqual(os.listdir(os.path.join(self.store, "fs", "sessions")), [])

    def test_every_command_has_help(self):
        usage = self.deja("--help").stdout
        commands = [line.split()[1] for line in usage.splitlines() if line.startswith("  deja ")]
        self.assertIn("record", commands)
        for c in commands:
            p = subprocess.run([DEJA, c, "--help"], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, c)
            self.assertIn("usage: deja " + c, p.stdout)
