"""Always-on recording (issue 13) through the real deja binary: a recorder killed with
SIGKILL is replaced (deja attach, or deja daemon at once), checkpoints resume, the gap is
kept, and every committed checkpoint revives; pause/resume; pins, rm and df; the store's
maintenance lock; owner-only permissions; a truncated framebuffer does not kill the
recorder."""

import fcntl
import os
import random
import re
import signal
import sqlite3
import stat
import subprocess
import time

from harness import DEJA, StoreTestCase, running
from test_sandbox import v1_groups

COUNTER = ["python3", "-u", "-c",
           "import time\ni = 0\nwhile True:\n    i += 1\n    print('n', i)\n"
           "    open('/tmp/n', 'w').write(str(i))\n    time.sleep(0.1)"]


class ServiceTestCase(StoreTestCase):
    def setUp(self):
        super().setUp()
        self.init()

    def recorder_pid(self, sid):
        return self.catalog("SELECT supervisor_pid FROM sessions WHERE id = ?", sid)[0][0]

    def kill_recorder(self, sid):
        pid = self.recorder_pid(sid)
        os.kill(pid, signal.SIGKILL)
        self.wait_for(lambda: not running(pid), f"recorder {pid} to die")
        return time.time()

    def crids(self, sid):
        return [c["crid"] for c in self.deja_json("checkpoints", sid)]

    def wait_checkpoint_after(self, sid, when, timeout):
        self.wait_for(lambda: any(c["time"] > when for c in self.checkpoint_times(sid)),
                      f"a checkpoint of {sid} after the kill", timeout)

    def checkpoint_times(self, sid):
        return [{"crid": r[0], "time": r[1]} for r in
                self.catalog("SELECT crid, time FROM checkpoints WHERE session = ?", sid)]

    def log_numbers(self, sid):
        return [int(n) for n in re.findall(r"n (\d+)", self.deja("logs", sid).stdout)]

    def assert_revives(self, sid, crid):
        branch = self.deja("revive", f"{sid}:{crid}", "--detach", "--interval", "0").stdout.strip()
        self.sessions.append(branch)
        start = max(self.log_numbers(branch) or [0])
        # The counter goes on in the branch: its processes came back and run.
        self.wait_for(lambda: max(self.log_numbers(branch) or [0]) >= start + 3,
                      f"the branch of {sid}:{crid} to count on", 30)
        self.deja("stop", branch)

    def start_daemon(self, *extra):
        log = open(os.path.join(self.dir, "daemon.log"), "w")
        p = subprocess.Popen([DEJA, "--store", self.store, "daemon", "--scan", "0.5", *extra],
                             stdout=log, stderr=log)
        log.close()

        def stop():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=30)
        # Registered after the store cleanup's setup, so it runs before it (LIFO).
        self.addCleanup(stop)
        return p


class AttachTest(ServiceTestCase):
    def test_attach_adopts_a_session_whose_recorder_was_killed(self):
        sid = self.record(*COUNTER, interval="0.5")
        self.wait_for(lambda: len(self.crids(sid)) >= 2, "two checkpoints")
        killed = self.kill_recorder(sid)
        before = self.crids(sid)
        # The truth: its processes run, nothing records them.
        self.assertEqual(self.session(sid)["state"], "unrecorded")
        self.assert_one_line_error(self.deja("checkpoint", sid, check=False),
                                   "unrecorded", f"deja attach {sid}")
        open_gap = self.deja_json("gaps", sid)
        self.assertEqual([(g["reason"], g["to"]) for g in open_gap], [("unrecorded", None)])
        time.sleep(1)

        self.assertEqual(self.deja("attach", sid, "--detach").stdout.strip(), sid)
        self.assertEqual(self.session(sid)["state"], "recording")
        self.wait_checkpoint_after(sid, killed, 5)
        self.wait_for(lambda: len(self.crids(sid)) >= len(before) + 2, "checkpoints to go on")
        [gap] = self.deja_json("gaps", sid)
        self.assertEqual(gap["reason"], "unrecorded")
        # From the dead recorder's last heartbeat (at most a second before the kill) to the
        # attach, a second or more after it.
        self.assertLessEqual(gap["from_t"], killed - self.started(sid) + 0.01)
        self.assertGreater(gap["from_t"], killed - self.started(sid) - 2)
        self.assertGreaterEqual(gap["to_t"] - gap["from_t"], 1)
        # A second recorder for the same session is refused.
        self.assert_one_line_error(self.deja("attach", sid, check=False), "already has a recorder")
        self.deja("stop", sid)
        self.assertEqual(self.session(sid)["state"], "stopped")
        # The adopting recorder removes the session's cgroup v1 groups, as the first would.
        self.assertEqual(v1_groups(sid), [])
        for crid in self.crids(sid):
            self.assert_revives(sid, crid)

    def test_an_adopted_session_ends_with_its_commands_status(self):
        sid = self.record("sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 3")
        self.kill_recorder(sid)
        self.deja("attach", sid, "--detach")
        self.deja("exec", sid, "--", "touch", "/tmp/go")
        self.wait_for(lambda: self.session(sid)["state"] == "stopped", "the session to end")
        self.assertEqual(self.session(sid)["exit_status"], 3)
        self.wait_for(lambda: v1_groups(sid) == [], "its cgroup v1 groups to go", 10)

    def started(self, sid):
        return self.catalog("SELECT started FROM sessions WHERE id = ?", sid)[0][0]

    def test_attach_to_a_session_whose_processes_ended_marks_it_stopped(self):
        sid = self.record("sleep", "1000")
        self.kill_recorder(sid)
        with open(os.path.join(self.cgroup(sid), "cgroup.kill"), "w") as f:
            f.write("1")
        self.wait_for(lambda: self.session(sid)["state"] == "stopped", "the session to end")
        self.assert_one_line_error(self.deja("attach", sid, check=False), "has ended")
        self.assert_one_line_error(self.deja("attach", sid, check=False), "is stopped")

    def cgroup(self, sid):
        from harness import session_cgroup
        return session_cgroup(sid)


class DaemonTest(ServiceTestCase):
    def test_daemon_replaces_killed_recorders_and_every_checkpoint_revives(self):
        self.start_daemon()
        sid = self.record(*COUNTER, interval="0.5")
        rng = random.Random(13)
        for _ in range(4):
            self.wait_for(lambda: self.session(sid)["state"] == "recording", "recording")
            time.sleep(rng.uniform(0.2, 1.5))  # a random point of the cadence
            killed = self.kill_recorder(sid)
            self.wait_checkpoint_after(sid, killed, 5)
        self.assertEqual(self.session(sid)["state"], "recording")
        self.assertEqual([g["reason"] for g in self.deja_json("gaps", sid)], ["unrecorded"] * 4)
        self.deja("stop", sid)
        self.assertEqual(self.catalog("PRAGMA integrity_check"), [("ok",)])
        crids = self.crids(sid)
        self.assertGreaterEqual(len(crids), 5)
        for crid in crids:
            self.assert_revives(sid, crid)

    def test_kills_while_gc_and_compact_run_lose_no_checkpoint(self):
        self.start_daemon()
        sid = self.record(*COUNTER, interval="0.3")
        rng = random.Random(7)
        maintenance = []
        for round_ in range(4):
            self.wait_for(lambda: self.session(sid)["state"] == "recording", "recording")
            self.wait_for(lambda: len(self.crids(sid)) >= 2, "two checkpoints")
            # gc and compact run while the recorder is killed and replaced.
            cmd = ["compact", sid] if round_ % 2 else ["gc", "--keep-all", "1s",
                                                      "--keep-minutely", "1s"]
            maintenance.append(subprocess.Popen([DEJA, "--store", self.store, *cmd],
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                text=True))
            time.sleep(rng.uniform(0, 0.6))
            killed = self.kill_recorder(sid)
            self.wait_checkpoint_after(sid, killed, 5)
        for p in maintenance:
            _, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
        self.deja("stop", sid)
        self.assertEqual(self.catalog("PRAGMA integrity_check"), [("ok",)])
        images = os.path.join(self.store, "fs", "images")
        for c in self.deja_json("checkpoints", sid):
            self.assertTrue(os.path.exists(os.path.join(images, c["image"])), c)
        for crid in self.crids(sid):
            self.assert_revives(sid, crid)

    def test_daemon_adopts_a_session_left_without_recorder(self):
        sid = self.record(*COUNTER, interval="0.5")
        killed = self.kill_recorder(sid)
        self.assertEqual(self.session(sid)["state"], "unrecorded")
        self.start_daemon()
        self.wait_checkpoint_after(sid, killed, 10)
        self.assertEqual(self.session(sid)["state"], "recording")


class PauseTest(ServiceTestCase):
    def test_no_checkpoints_while_paused_and_the_gap_is_kept(self):
        sid = self.record(*COUNTER, interval="0.3")
        self.wait_for(lambda: len(self.crids(sid)) >= 1, "a checkpoint")
        self.deja("pause", sid)
        paused_at = time.time()
        self.assertEqual(self.session(sid)["state"], "paused")
        self.assert_one_line_error(self.deja("pause", sid, check=False), "already paused")
        self.assert_one_line_error(self.deja("checkpoint", sid, check=False), "paused")
        count = len(self.crids(sid))
        time.sleep(1.5)  # the counter writes all along: would be 5 checkpoints
        self.assertEqual(len(self.crids(sid)), count)
        # A recorder replaced while paused keeps the session paused.
        self.kill_recorder(sid)
        self.deja("attach", sid, "--detach")
        self.assertEqual(self.session(sid)["state"], "paused")
        time.sleep(0.8)
        self.assertEqual(len(self.crids(sid)), count)
        self.deja("resume", sid)
        resumed_at = time.time()
        self.assertEqual(self.session(sid)["state"], "recording")
        self.wait_for(lambda: len(self.crids(sid)) > count, "checkpoints after resume")
        [gap] = self.deja_json("gaps", sid)
        self.assertEqual(gap["reason"], "paused")
        started = self.catalog("SELECT started FROM sessions WHERE id = ?", sid)[0][0]
        self.assertAlmostEqual(gap["from_t"], paused_at - started, delta=0.5)
        self.assertAlmostEqual(gap["to_t"], resumed_at - started, delta=0.5)
        times = [c["time"] for c in self.checkpoint_times(sid)]
        self.assertFalse([t for t in times if started + gap["from_t"] < t < started + gap["to_t"]])

    def test_no_frames_while_paused(self):
        sid = self.record("sh", "-c", "while :; do xterm -e sleep 0.3; done", display=True,
                          interval="0")
        frames = lambda: self.catalog(
            "SELECT count(*) FROM display_frames f JOIN display_segments s ON f.segment = s.id "
            "WHERE s.session = ?", sid)[0][0]
        segments = lambda: self.catalog(
            "SELECT count(*) FROM display_segments WHERE session = ?", sid)[0][0]
        # Frames are indexed when their segment is finished: the pause finishes it.
        self.wait_for(lambda: segments() > 0, "the screen recording to start", 30)
        time.sleep(1)
        self.deja("pause", sid)
        count = frames()
        self.assertGreater(count, 0)
        time.sleep(2)
        self.assertEqual(frames(), count)
        self.deja("resume", sid)
        time.sleep(2)
        self.deja("stop", sid)
        self.assertGreater(frames(), count)


class StorageTest(ServiceTestCase):
    def test_pin_survives_gc_and_rm_removes_everything(self):
        sid = self.record("sleep", "1000")
        crids = [int(self.deja("checkpoint", sid).stdout) for _ in range(3)]
        self.assertEqual(self.deja("pin", f"{sid}:{crids[0]}").stdout.strip(), f"{sid}:{crids[0]}")
        self.assert_one_line_error(self.deja("rm", sid, check=False), "is recording",
                                   f"deja stop {sid}")
        self.deja("stop", sid)
        db = sqlite3.connect(os.path.join(self.store, "catalog.db"))
        db.execute("UPDATE checkpoints SET time = time - 7 * 86400 WHERE session = ?", (sid,))
        db.commit()
        db.close()
        self.deja("gc")
        # The latest stays anyway; the pinned one stays by its pin; the middle one goes.
        self.assertEqual(self.crids(sid), [crids[0], crids[2]])
        df = self.deja_json("df")
        [row] = [s for s in df["sessions"] if s["id"] == sid]
        self.assertEqual((row["checkpoints"], row["snapshots"]), (2, 2))
        self.assertGreater(row["images_bytes"], 0)
        self.assertGreater(df["store"]["used_bytes"], 0)

        self.deja("rm", sid)
        self.assertEqual([s["id"] for s in self.deja_json("sessions")], [])
        fs = os.path.join(self.store, "fs")
        for area in ("sessions", "snapshots", "images", "recordings"):
            self.assertFalse(os.path.exists(os.path.join(fs, area, sid)), area)
        self.assert_one_line_error(self.deja("rm", sid, check=False), f"no session '{sid}'")

    def test_rm_refuses_a_session_with_branches(self):
        sid = self.record(*COUNTER)
        crid = int(self.deja("checkpoint", sid).stdout)
        branch = self.deja("revive", f"{sid}:{crid}", "--detach", "--interval", "0").stdout.strip()
        self.sessions.append(branch)
        self.deja("stop", sid)
        self.assert_one_line_error(self.deja("rm", sid, check=False), "has branches", branch)

    def test_owner_only_permissions(self):
        sid = self.record("sleep", "1000", display=True)
        self.deja("checkpoint", sid)
        self.deja("stop", sid)
        mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)
        self.assertEqual(mode(os.path.join(self.store, "catalog.db")), 0o600)
        fs = os.path.join(self.store, "fs")
        self.assertEqual(mode(self.store), 0o700)
        for area in ("images", "recordings"):
            for root, dirs, files in os.walk(os.path.join(fs, area)):
                self.assertEqual(mode(root) & 0o077, 0, root)
                for f in files:
                    self.assertEqual(mode(os.path.join(root, f)) & 0o077, 0, f)


class LockTest(ServiceTestCase):
    def test_gc_and_compact_wait_for_a_revive_in_progress(self):
        sid = self.record("sleep", "1000")
        self.deja("checkpoint", sid)
        # Holds the lock as a revive does while it reads images (shared).
        lock = open(os.path.join(self.store, "maintenance.lock"), "a+")
        self.addCleanup(lock.close)
        fcntl.lockf(lock, fcntl.LOCK_SH)
        for cmd in (["gc"], ["compact", sid]):
            p = subprocess.Popen([DEJA, "--store", self.store, *cmd], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            try:
                time.sleep(1)
                self.assertIsNone(p.poll(), f"deja {cmd[0]} ran beside a revive")
            finally:
                fcntl.lockf(lock, fcntl.LOCK_UN)
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
            self.assertIn("waiting for another gc", err)
            fcntl.lockf(lock, fcntl.LOCK_SH)
        fcntl.lockf(lock, fcntl.LOCK_UN)

    def test_no_checkpoint_is_taken_while_gc_holds_the_store(self):
        sid = self.record(*COUNTER, interval="0.2")
        self.wait_for(lambda: len(self.crids(sid)) >= 1, "a checkpoint")
        lock = open(os.path.join(self.store, "maintenance.lock"), "a+")
        self.addCleanup(lock.close)
        fcntl.lockf(lock, fcntl.LOCK_EX)  # as gc, compact or rm does
        count = len(self.crids(sid))
        time.sleep(1)
        self.assertLessEqual(len(self.crids(sid)), count + 1)  # one may have been under way
        count = len(self.crids(sid))
        time.sleep(1)
        self.assertEqual(len(self.crids(sid)), count)
        self.assert_one_line_error(self.deja("checkpoint", sid, check=False), "gc")
        fcntl.lockf(lock, fcntl.LOCK_UN)
        self.wait_for(lambda: len(self.crids(sid)) > count, "checkpoints to go on")

    def test_gc_compact_and_revive_at_once_lose_no_checkpoint(self):
        sid = self.record(*COUNTER, interval="0.2")
        self.wait_for(lambda: len(self.crids(sid)) >= 6, "six checkpoints", 30)
        self.deja("stop", sid)
        crids = self.crids(sid)
        procs = [subprocess.Popen([DEJA, "--store", self.store, *cmd], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for cmd in (["compact", f"{sid}:{crids[-1]}"], ["gc", "--keep-all", "0",
                                                                   "--keep-minutely", "0"],
                             ["compact", f"{sid}:{crids[-1]}"], ["gc"])]
        for p in procs:
            _, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
        for crid in self.crids(sid):
            self.assert_revives(sid, crid)


class FramebufferTest(ServiceTestCase):
    def test_truncated_framebuffer_does_not_kill_the_recorder(self):
        sid = self.record("sleep", "1000", display=True, interval="0")
        fb = os.path.join(self.store, "fs", "sessions", sid, "run", "deja", "display",
                          "Xvfb_screen0")
        segments = lambda: self.catalog(
            "SELECT count(*) FROM display_segments WHERE session = ?", sid)[0][0]
        self.wait_for(lambda: segments() > 0, "the screen recording to start", 30)
        recorder = self.recorder_pid(sid)
        os.truncate(fb, 4096)
        time.sleep(2)  # ten polls of the screen
        self.assertTrue(running(recorder), "the recorder died")
        self.assertEqual(self.session(sid)["state"], "recording")
        self.deja("stop", sid)


class RetentionTest(ServiceTestCase):
    def age(self, sid, times):
        db = sqlite3.connect(os.path.join(self.store, "catalog.db"))
        for crid, t in times.items():
            db.execute("UPDATE checkpoints SET time = ? WHERE crid = ?", (t, crid))
        db.commit()
        db.close()

    def test_daemon_thins_a_simulated_day_as_the_policy_says(self):
        sid = self.record(*COUNTER, interval="0.2")
        self.wait_for(lambda: len(self.crids(sid)) >= 10, "ten checkpoints", 30)
        self.deja("stop", sid)
        crids = self.crids(sid)
        now = time.time()
        # A day and more: two in one hour of yesterday, two in one minute of today, the rest
        # within the last hour.
        hour = (now - 30 * 3600) // 3600 * 3600
        minute = (now - 5 * 3600) // 60 * 60
        ages = [hour + 100, hour + 200, minute + 10, minute + 20]
        ages += [now - 3000 + 100 * i for i in range(len(crids) - 4)]
        self.age(sid, dict(zip(crids, ages)))
        expected = sorted(set(crids) - {d["crid"] for d in
                                        self.deja_json("gc", "--dry-run")["deleted"]})
        self.assertEqual(len(expected), len(crids) - 2)
        self.start_daemon("--retention-every", "1")
        self.wait_for(lambda: self.crids(sid) == expected, "the daemon's retention", 10)
        for crid in expected:
            self.assert_revives(sid, crid)

    def test_daemon_keeps_the_store_under_its_budget(self):
        sid = self.record(*COUNTER)
        # The session's own files alone outgrow the budget, so everything that may go goes,
        # a tenth a round, oldest first.
        self.deja("exec", sid, "--", "fallocate", "-l", "300M", "big")
        crids = [int(self.deja("checkpoint", sid).stdout) for _ in range(5)]
        self.deja("pin", f"{sid}:{crids[1]}")
        self.deja("stop", sid)
        self.start_daemon("--retention-every", "1", "--budget", "256M")
        self.wait_for(lambda: self.crids(sid) == [crids[1], crids[4]], "shedding", 20)
        for crid in (crids[1], crids[4]):
            self.assert_revives(sid, crid)

    def test_gc_removes_old_screen_recordings_and_their_text(self):
        sid = self.record("sh", "-c", "while :; do xterm -e sleep 0.3; done", display=True,
                          interval="0")
        segments = lambda: self.catalog(
            "SELECT count(*), coalesce(sum(frames), 0) FROM display_segments WHERE session = ?",
            sid)[0]
        self.wait_for(lambda: segments()[0] > 0, "the screen recording to start", 30)
        time.sleep(1)
        self.deja("stop", sid)
        files = [os.path.join(self.store, "fs", "recordings", f) for (f,) in self.catalog(
            "SELECT file FROM display_segments WHERE session = ?", sid)]
        self.assertTrue(all(os.path.exists(f) for f in files))
        self.assertEqual(self.deja_json("gc", "--keep-screen", "1d")["recordings"]["segments"], 0)
        db = sqlite3.connect(os.path.join(self.store, "catalog.db"))
        two_days = 2 * 86400 * 1000
        db.execute("UPDATE display_segments SET start_ms = start_ms - ?, end_ms = end_ms - ?",
                   (two_days, two_days))
        db.execute("UPDATE display_text SET first_ms = first_ms - ?, last_ms = last_ms - ?",
                   (two_days, two_days))
        db.commit()
        db.close()
        report = self.deja_json("gc", "--keep-screen", "1d")
        self.assertEqual(report["recordings"]["segments"], len(files))
        self.assertEqual(segments(), (0, 0))
        self.assertEqual(self.catalog("SELECT count(*) FROM display_frames")[0][0], 0)
        self.assertEqual(self.catalog("SELECT count(*) FROM display_text WHERE session = ?",
                                      sid)[0][0], 0)
        self.assertFalse(any(os.path.exists(f) for f in files))


class PlantedFilesTest(ServiceTestCase):
    def test_logs_neither_follow_a_planted_symlink_nor_block_on_a_fifo(self):
        sid = self.record("sh", "-c", "rm /run/deja/session.log; "
                          "ln -s /etc/hostname /run/deja/session.log; sleep 1000")
        log = os.path.join(self.store, "fs", "sessions", sid, "run", "deja", "session.log")
        self.wait_for(lambda: os.path.islink(log), "the planted symlink")
        p = self.deja("logs", sid, check=False)
        self.assert_one_line_error(p, "session.log")
        with open("/etc/hostname") as f:
            self.assertNotIn(f.read().strip(), p.stdout)
        os.unlink(log)
        os.mkfifo(log)
        self.assert_one_line_error(self.deja("logs", sid, check=False, timeout=10),
                                   "not a regular file")
