"""Retention over a simulated day, through the real deja binary and `deja daemon`: a desktop
session (xterm printing the time, a program rewriting 4 MiB) is recorded in five stretches
(each pause finishes a screen segment), the stretches are moved back in time to places of a
day (the catalog's times only: the data stays what was recorded), and the daemon's
retention must leave exactly what the timeline policy says: the checkpoints, the frames
(the last of each minute or hour, the one on screen at each kept checkpoint, each back to
its keyframe; a rewritten segment starts at its first frame left) and the text on them. Every kept checkpoint revives and shows the same screen
as before thinning, and the store ends under a budget it was over before, without shedding.
The expectations are computed here, independently of deja's code (docs/storage.md)."""

import fcntl
import math
import os
import re
import sqlite3
import subprocess
import time

from harness import DEJA
from test_service import ServiceTestCase

DIRTY = ("import os, time\nb = bytearray(4 << 20)\ni = 0\nwhile True:\n    i += 1\n"
         "    print('n', i)\n    b[:] = os.urandom(len(b))\n    time.sleep(0.2)")
CLOCK = "while :; do date +%T.%N; sleep 0.2; done"
KEEP_ALL, MINUTELY, HOURLY = 3600, 86400, 30 * 86400


def policy_keeps(items, now):
    """Keys of (key, unix seconds) items the timeline policy keeps (the defaults)."""
    keep, latest = set(), {}
    for key, t in items:
        age = now - t
        if age <= KEEP_ALL:
            keep.add(key)
            continue
        width = 60 if age <= MINUTELY else 3600 if age <= HOURLY else 86400
        bucket = (width, math.floor(t / width))
        if bucket not in latest or t > latest[bucket][1]:
            latest[bucket] = (key, t)
    keep |= {key for key, _ in latest.values()}
    if items:
        keep.add(max(items, key=lambda i: i[1])[0])
    return keep


class SimulatedDayTest(ServiceTestCase):
    def frames(self, sid):
        return self.catalog(
            "SELECT f.segment, f.pts_ms, s.start_ms + f.pts_ms, f.key FROM display_frames f "
            "JOIN display_segments s ON f.segment = s.id WHERE s.session = ? "
            "ORDER BY s.start_ms + f.pts_ms, s.id", sid)

    def text(self, sid):
        return self.catalog("SELECT id, first_ms, last_ms FROM display_text WHERE session = ? "
                            "ORDER BY id", sid)

    def used_bytes(self):
        fs = os.path.join(self.store, "fs")
        subprocess.run(["sync", "-f", fs], check=True)
        st = os.statvfs(fs)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def images_dir(self, sid):
        return os.path.join(self.store, "fs", "images", sid)

    def image_bytes(self, sid):
        folder = self.images_dir(sid)
        return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))

    def record_stretches(self):
        """Records five stretches of about 5 s; returns the session and the boundaries
        between them (in the middle of each pause, when nothing is recorded)."""
        # The session's own 200 MiB file keeps the budget above btrfs's 256 MiB minimum
        # (--budget is a size like deja init --size) and is never touched by retention.
        sid = self.record("sh", "-c", f"fallocate -l 200M big; python3 -u -c \"{DIRTY}\" & "
                          f"exec xterm -e sh -c '{CLOCK}'", display=True, interval="1")
        self.wait_for(lambda: len(self.crids(sid)) >= 2, "the first checkpoints", 30)
        bounds = []
        for _ in range(4):
            time.sleep(5)
            paused = time.time()
            self.deja("pause", sid)
            time.sleep(1)
            bounds.append((paused + time.time()) / 2)
            self.deja("resume", sid)
        time.sleep(5)
        self.deja("stop", sid)
        return sid, bounds

    def move_stretches(self, sid, bounds, now):
        """Moves stretch i (its checkpoints, segments and text) to targets[i]; returns them."""
        hour = (now - 30 * 3600) // 3600 * 3600
        targets = [hour + 600, hour + 1800,  # one hour of yesterday: the earlier one goes
                   (now - 5 * 3600) // 60 * 60 + 57.5,  # across a minute's end: two minutes
                   (now - 3 * 3600) // 60 * 60 + 5,  # one minute, with a pinned checkpoint
                   now - 1200]  # within the last hour: all of it stays
        started = self.catalog("SELECT started FROM sessions WHERE id = ?", sid)[0][0]
        edges = [started - 60] + bounds + [time.time() + 60]
        db = sqlite3.connect(os.path.join(self.store, "catalog.db"))
        for i, target in enumerate(targets):
            lo, hi = edges[i], edges[i + 1]
            d = target - (started if i == 0 else lo)
            dm = int(d * 1000)
            db.execute("UPDATE checkpoints SET time = time + ? WHERE session = ? AND "
                       "time >= ? AND time < ?", (d, sid, lo, hi))
            db.execute("UPDATE display_segments SET start_ms = start_ms + ?1, end_ms = end_ms "
                       "+ ?1 WHERE session = ?2 AND start_ms >= ?3 AND start_ms < ?4",
                       (dm, sid, int(lo * 1000), int(hi * 1000)))
            db.execute("UPDATE display_text SET first_ms = first_ms + ?1, last_ms = last_ms + ?1 "
                       "WHERE session = ?2 AND first_ms >= ?3 AND first_ms < ?4",
                       (dm, sid, int(lo * 1000), int(hi * 1000)))
        db.execute("UPDATE sessions SET started = ? WHERE id = ?", (hour, sid))
        db.commit()
        db.close()
        return targets

    def expected(self, sid, now, protected):
        """(checkpoints, frames as (segment, unix ms), text ids and first_ms) retention
        keeps."""
        rows = self.catalog("SELECT crid, time FROM checkpoints WHERE session = ?", sid)
        crids = policy_keeps(rows, now) | protected
        frames = self.frames(sid)
        keep = [False] * len(frames)
        for i in policy_keeps([(i, f[2] / 1000) for i, f in enumerate(frames)], now):
            keep[i] = True
        for crid, t in rows:
            if crid in crids:
                at = [i for i, f in enumerate(frames) if f[2] <= math.floor(t * 1000)]
                if at:
                    keep[at[-1]] = True
        needed = False
        for i in reversed(range(len(frames))):
            if i + 1 < len(frames) and frames[i][0] != frames[i + 1][0]:
                needed = False
            needed = needed or keep[i]
            keep[i] = needed
            if frames[i][3]:
                needed = False
        shown = [f[2] for f, k in zip(frames, keep) if k]
        text = {}
        for tid, first, last in self.text(sid):
            if last is None or last > (now - KEEP_ALL) * 1000:
                text[tid] = first
                continue
            on = [r for r in shown if first <= r and (r < last or r == first)]
            if on:
                text[tid] = on[0]
        kept_frames = [(f[0], f[2]) for f, k in zip(frames, keep) if k]
        return sorted(crids), kept_frames, text, len(frames)

    def test_the_daemon_thins_a_simulated_day_as_the_policy_says(self):
        sid, bounds = self.record_stretches()
        now = time.time()
        self.move_stretches(sid, bounds, now)
        stretch = lambda i: [c for c, t in self.catalog(
            "SELECT crid, time FROM checkpoints WHERE session = ? ORDER BY crid", sid)
            if self.in_stretch(t, i, now)]
        # A branch revived from the first checkpoint of stretch 2, and a pin in stretch 3:
        # both would go by the policy alone.
        origin, pinned = stretch(2)[0], stretch(3)[0]
        branch = self.deja("revive", f"{sid}:{origin}", "--detach", "--interval",
                           "0").stdout.strip()
        self.sessions.append(branch)
        self.deja("stop", branch)
        self.deja("pin", f"{sid}:{pinned}")
        crids, frames, text, all_frames = self.expected(sid, now, {origin, pinned})
        self.assertIn(origin, crids)
        self.assertIn(pinned, crids)
        self.assertFalse(set(stretch(0)) & set(crids), "stretch 0 is all thinned away")
        self.assertLess(len(frames), all_frames * 0.6, "thinning removes a good part")
        screens = {}
        for crid in crids:
            path = os.path.join(self.dir, f"before-{crid}.png")
            self.deja("frame", f"{sid}:{crid}", "-o", path)
            with open(path, "rb") as f:
                screens[crid] = f.read()
        # What thinning frees: the images of the checkpoints that go, but those a kept
        # checkpoint's image still refers to (incremental images keep their chain; see
        # docs/storage.md), and the segments left with no frame.
        refs = self.catalog("SELECT crid, ref_crid FROM image_refs")
        needed = set(crids) | {r for c, r in refs if c in crids}
        freed = sum(b for c, b in self.catalog("SELECT crid, image_bytes FROM checkpoints "
                                               "WHERE session = ?", sid) if c not in needed)
        kept_segments = {s for s, _ in frames}
        freed += sum(b for s, b in self.catalog("SELECT id, bytes FROM display_segments WHERE "
                                                "session = ?", sid) if s not in kept_segments)
        self.assertGreater(freed, 8 << 20)
        # What the kept checkpoints need of images: their own, and at most one copy of the
        # pages they share with images that go (the first checkpoint's full image bounds
        # that). Removing the others' images needs their references rewritten (rebased).
        images = self.catalog("SELECT crid, image_bytes, parent_crid FROM checkpoints "
                              "WHERE session = ?", sid)
        need = (sum(b for c, b, _ in images if c in crids) +
                max(b for _, b, parent in images if parent is None))
        images_before = self.image_bytes(sid)
        budget = self.used_bytes() - freed // 2
        files = {s: f for s, f in self.catalog("SELECT id, file FROM display_segments "
                                                 "WHERE session = ?", sid)}

        daemon = self.start_daemon("--retention-every", "1", "--budget", str(budget))
        thinned = lambda: (self.crids(sid) == crids and
                           [(f[0], f[2]) for f in self.frames(sid)] == frames and
                           dict((t[0], t[1]) for t in self.text(sid)) == text)
        try:
            self.wait_for(thinned, "the daemon's retention", 30)
        except AssertionError:
            with open(os.path.join(self.dir, "daemon.log")) as f:
                print(f.read())
            self.assertEqual(self.crids(sid), crids)
            self.assertEqual([(f[0], f[2]) for f in self.frames(sid)], frames)
            self.assertEqual(dict((t[0], t[1]) for t in self.text(sid)), text)
            raise
        self.wait_for(lambda: self.used_bytes() <= budget, "the store under its budget", 30)
        daemon.terminate()
        daemon.wait(timeout=30)
        with open(os.path.join(self.dir, "daemon.log")) as f:
            log = f.read()
        self.assertIn("thinning removed", log)
        self.assertNotIn("over its budget", log)
        # Images: only those the kept checkpoints name are left, and about what they need.
        after = self.image_bytes(sid)
        print(f"images of {sid}: {images_before >> 20} MiB before thinning, {after >> 20} MiB "
              f"after; the kept checkpoints need {need >> 20} MiB")
        self.assertLessEqual(after, need * 1.2)
        named = {os.path.basename(i) for i, in self.catalog(
            "SELECT image FROM checkpoints WHERE session = ?", sid)}
        self.assertEqual(set(os.listdir(self.images_dir(sid))), named)

        # Files: a segment with no frame left is gone, the others hold what the catalog says
        # (their size is the copy's), no copy is left beside them.
        left = {s: (f, b) for s, f, b in self.catalog(
            "SELECT id, file, bytes FROM display_segments WHERE session = ?", sid)}
        self.assertEqual(set(left), {s for s, _ in frames})
        for s, name in files.items():
            path = os.path.join(self.store, "fs", "recordings", name)
            self.assertEqual(os.path.exists(path), s in left, path)
            self.assertFalse(os.path.exists(path + ".thin.mkv"))
            if s in left:
                self.assertEqual(os.path.getsize(path), left[s][1])
        # Thinning again changes nothing.
        self.assertEqual(self.deja_json("gc")["recordings"]["thinned"]["frames"], 0)
        for crid in crids:
            path = os.path.join(self.dir, f"after-{crid}.png")
            self.deja("frame", f"{sid}:{crid}", "-o", path)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), screens[crid], f"the screen at checkpoint {crid}")
        for crid in crids:
            self.assert_revives(sid, crid)

    def in_stretch(self, t, i, now):
        hour = (now - 30 * 3600) // 3600 * 3600
        starts = [hour, hour + 1200, now - 6 * 3600, now - 4 * 3600, now - 2 * 3600, now]
        return starts[i] <= t < starts[i + 1]


class LiveThinningTest(ServiceTestCase):
    def test_a_session_is_thinned_while_it_records(self):
        """The daemon thins a session's finished segments (each pause finishes one) while
        its recorder goes on: recording is not disturbed, and every frame left decodes."""
        sid = self.record("xterm", "-e", "sh", "-c", CLOCK, display=True, interval="1")
        self.wait_for(lambda: len(self.crids(sid)) >= 2, "the first checkpoints", 30)
        daemon = self.start_daemon("--retention-every", "1", "--keep-all", "5s")
        for _ in range(3):
            time.sleep(4)
            self.deja("pause", sid)
            self.deja("resume", sid)
        def log():
            with open(os.path.join(self.dir, "daemon.log")) as f:
                return f.read()
        self.wait_for(lambda: "thinning removed" in log(), "the daemon to thin", 20)
        count = len(self.crids(sid))
        self.wait_for(lambda: len(self.crids(sid)) >= count + 2, "checkpoints to go on", 20)
        self.assertEqual(self.session(sid)["state"], "recording")
        self.deja("stop", sid)
        # Stopped, so that it thins no more while the frames left are read.
        daemon.terminate()
        daemon.wait(timeout=30)
        self.assertNotIn("failed", log())
        started = self.catalog("SELECT started FROM sessions WHERE id = ?", sid)[0][0]
        frames = self.catalog(
            "SELECT s.start_ms + f.pts_ms FROM display_frames f JOIN display_segments s ON "
            "f.segment = s.id WHERE s.session = ? ORDER BY 1", sid)
        removed = [int(n) for n in re.findall(r"thinning removed (\d+) frames", log())]
        self.assertGreater(sum(removed), 0)
        path = os.path.join(self.dir, "frame.png")
        for (ms,) in frames:
            self.deja("frame", f"{sid}@{ms / 1000 - started:.3f}", "-o", path)


class SlicedThinningTest(ServiceTestCase):
    def test_a_revive_proceeds_during_a_long_thinning(self):
        """A thinning pass over a backlog holds the store's maintenance lock in slices
        (docs/storage.md): a revive asked for while `deja gc` works is done before gc is."""
        sid = self.record("python3", "-u", "-c", DIRTY, interval="1")
        self.wait_for(lambda: len(self.crids(sid)) >= 40, "40 checkpoints", 120)
        self.deja("stop", sid)
        crids = self.crids(sid)
        # Half a minute apart, hours ago: the latest of each minute stays and is rebased.
        now = time.time()
        db = sqlite3.connect(os.path.join(self.store, "catalog.db"))
        for i, crid in enumerate(crids[:-1]):
            db.execute("UPDATE checkpoints SET time = ? WHERE crid = ?",
                       (now - 7200 - (len(crids) - i) * 30, crid))
        db.commit()
        db.close()
        log = open(os.path.join(self.dir, "gc.log"), "w+")
        gc = subprocess.Popen([DEJA, "--store", self.store, "gc"], stdout=log, stderr=log)
        try:
            self.wait_for(lambda: self.maintenance_locked() or gc.poll() is not None,
                          "gc to take the store", 30)
            branch = self.deja("revive", f"{sid}:{crids[-1]}", "--detach", "--interval",
                               "0").stdout.strip()
            self.sessions.append(branch)
            thinning = gc.poll() is None
        finally:
            gc.wait(timeout=300)
            log.seek(0)
            output = log.read()
            log.close()
        self.assertEqual(gc.returncode, 0, output)
        if not thinning and "let revives and checkpoints use the store" not in output:
            # A fast machine thinned all of it within one slice of the lock: the revive
            # waited for less than a slice, and this machine cannot show more.
            self.skipTest("gc finished within one slice of the maintenance lock here")
        self.assertTrue(thinning, "gc is still thinning when the revive is done:\n" + output)
        self.deja("stop", branch)
        self.assertLess(len(self.crids(sid)), len(crids) * 0.7, "gc thinned")
        self.assert_revives(sid, self.crids(sid)[0])

    def maintenance_locked(self):
        with open(os.path.join(self.store, "maintenance.lock"), "a") as f:
            try:
                fcntl.lockf(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.lockf(f, fcntl.LOCK_UN)
            return False
