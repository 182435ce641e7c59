"""A full disk under the store (issue 13, docs/storage.md), through the real deja binary: the
store's loop image is allocated on its host file system and grows on demand within the host's
reserve, so a host disk that fills makes checkpoints fail cleanly (ENOSPC from btrfs) and
never turns the store read-only. The host is a real, small ext4 made and loop-mounted by the
test in its temporary folder, filled by the test, unmounted and removed even on failure."""

import os
import random
import shutil
import subprocess
import time
import unittest

from harness import StoreTestCase, session_cgroup
from test_service import ServiceTestCase

MiB = 1 << 20
HOST_SIZE = 2048 * MiB
HOST_RESERVE = 256 * MiB  # 1% of the host, at least 256 MiB (docs/storage.md)

# Counts on, and keeps going while its writes fail for want of space. With /tmp/dirty it
# writes every page of a 48 MiB buffer once, so the next checkpoint image is that big.
PROGRAM = ["python3", "-u", "-c", """
import os, time
blob = bytearray(48 << 20)
i = 0
while True:
    i += 1
    for write in (lambda: print('n', i), lambda: open('/tmp/n', 'w').write(str(i))):
        try:
            write()
        except OSError:
            pass
    if os.path.exists('/tmp/dirty'):
        for k in range(0, len(blob), 4096):
            blob[k] = i & 255
        try:
            os.remove('/tmp/dirty')
        except OSError:
            pass
    time.sleep(0.1)
"""]


def available(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class SmallHostTestCase(ServiceTestCase):
    """The store lives on a small ext4 of its own (no blocks reserved for root, so the test
    can fill it for root too); each test makes the store itself."""

    def setUp(self):
        StoreTestCase.setUp(self)  # not ServiceTestCase's: it would make the store too soon
        self.host = os.path.join(self.dir, "host")
        os.mkdir(self.host)
        host_image = os.path.join(self.dir, "host.ext4")
        with open(host_image, "wb") as f:
            f.truncate(HOST_SIZE)
        subprocess.run(["mkfs.ext4", "-q", "-m", "0", host_image], check=True)
        # mount -o loop sets up an auto-clearing loop device: unmounting removes it.
        subprocess.run(["mount", "-o", "loop", host_image, self.host], check=True)
        self.store = os.path.join(self.host, "store")
        self.fs = os.path.join(self.store, "fs")
        self.image = os.path.join(self.store, "store.btrfs")

    def _cleanup(self):
        # The store first (sessions stopped, its btrfs unmounted), then the host under it.
        super()._cleanup()
        for _ in range(100):
            if not os.path.ismount(self.host):
                break
            # The store's loop device clears itself a moment after its unmount.
            if subprocess.run(["umount", self.host], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", self.host], check=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def fill(self, path, leave):
        """Takes the free space of the file system at `path` down to about `leave` bytes with
        a file `path`/filler (fallocate: no data written), to none at all for `leave` 0."""
        filler = os.path.join(path, "filler")
        self.addCleanup(lambda: os.path.exists(filler) and os.remove(filler))
        size = os.path.getsize(filler) if os.path.exists(filler) else 0
        want = size + available(path) - leave
        while want > size:
            if subprocess.run(["fallocate", "-l", str(want), filler],
                              capture_output=True).returncode == 0:
                break
            want -= 4 * MiB  # btrfs's free space is an estimate: ask a little less
        if leave == 0:
            # Free space is an estimate: write into what is left until the disk says ENOSPC.
            subprocess.run(["dd", "if=/dev/zero", "of=" + filler + ".tail", "bs=64k"],
                           capture_output=True)
            self.addCleanup(lambda: os.path.exists(filler + ".tail") and os.remove(filler + ".tail"))
        # btrfs counts the space as used once the transaction commits.
        subprocess.run(["sync", "-f", path], check=True)

    def free(self):
        for path in (self.fs, self.host):
            for name in ("filler", "filler.tail"):
                if os.path.exists(os.path.join(path, name)):
                    os.remove(os.path.join(path, name))
            # btrfs gives a deleted file's space back once the transaction commits.
            subprocess.run(["sync", "-f", path], check=True)

    def store_mount_options(self):
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                if fields[1] == self.fs:
                    return fields[3].split(",")
        self.fail(f"{self.fs} is not mounted")

    def assert_store_writable(self):
        self.assertIn("rw", self.store_mount_options())
        probe = os.path.join(self.fs, "probe")
        with open(probe, "w") as f:
            f.write("still writable")
        os.remove(probe)

    def image_sizes(self):
        st = os.stat(self.image)
        return st.st_size, st.st_blocks * 512

    def committed_since(self, sid, when):
        return sum(c["time"] > when for c in self.checkpoint_times(sid))


class GrowthTest(SmallHostTestCase):
    def test_the_image_is_allocated_and_grows_within_the_hosts_reserve(self):
        self.deja("init")
        size, allocated = self.image_sizes()
        self.assertEqual(size, 1024 * MiB)
        self.assertGreaterEqual(allocated, size, "the image is sparse")
        image = self.deja_json("df")["store"]["image"]
        self.assertEqual((image["bytes"], image["limit_bytes"]), (size, None))
        self.assertEqual(image["host_reserve_bytes"], HOST_RESERVE)

        sid = self.record("sleep", "1000", interval="1")
        # The session takes most of the store's free space; its recorder grows the image.
        self.deja("exec", sid, "--", "fallocate", "-l", "800M", "/tmp/big")
        self.wait_for(lambda: self.image_sizes()[0] > size, "the image to grow")
        grown, allocated = self.image_sizes()
        self.assertGreaterEqual(allocated, grown)
        self.assertGreaterEqual(available(self.host), HOST_RESERVE - 16 * MiB)
        self.assertGreater(available(self.fs), 256 * MiB)
        self.assert_store_writable()

    def test_growth_stops_at_the_limit(self):
        self.deja("init", "--size", "1200M")
        self.assertEqual(self.image_sizes()[0], 1024 * MiB)
        sid = self.record("sleep", "1000", interval="1")
        self.deja("exec", sid, "--", "fallocate", "-l", "800M", "/tmp/big")
        self.wait_for(lambda: self.image_sizes()[0] == 1200 * MiB, "the image to grow")
        time.sleep(2)
        self.assertEqual(self.image_sizes()[0], 1200 * MiB)
        self.assertEqual(self.deja_json("df")["store"]["image"]["limit_bytes"], 1200 * MiB)

    def test_a_store_without_room_on_its_host_is_refused_in_one_line(self):
        self.fill(self.host, 200 * MiB)
        self.assert_one_line_error(self.deja("init", check=False), "not enough free space",
                                   "--store")
        self.assertFalse(os.path.exists(self.image))


class FullDiskTest(SmallHostTestCase):
    def test_a_full_disk_fails_checkpoints_cleanly_and_the_store_stays_writable(self):
        self.deja("init")
        sid = self.record(*PROGRAM, interval="0.5")
        self.wait_for(lambda: len(self.crids(sid)) >= 2, "two checkpoints")
        # The host is filled (by someone else) below its reserve: the image cannot grow. Then
        # the store's btrfs is filled to the last block.
        self.fill(self.host, 16 * MiB)
        self.fill(self.fs, 0)
        self.assertLess(available(self.fs), 8 * MiB)
        before = self.crids(sid)
        # Refused in one line: for want of space, or because it builds on a periodic one that
        # met the full disk in the background meanwhile.
        errors = []
        while len(errors) < 5 and not any("No space left on device" in e for e in errors):
            failed = self.deja("checkpoint", sid, check=False)
            self.assert_one_line_error(failed, "failed")
            errors.append(failed.stderr)
        self.assertIn("No space left on device", errors[-1])
        time.sleep(2)  # periodic checkpoints meet the full disk too
        self.assertEqual(self.session(sid)["state"], "recording")
        self.assertIn("rw", self.store_mount_options())
        self.assertEqual(self.crids(sid), before)

        self.free()
        self.assert_store_writable()
        self.deja("exec", sid, "--", "sh", "-c", "echo after > /tmp/after")
        freed = time.time()
        self.assertIn(int(self.deja("checkpoint", sid).stdout), self.crids(sid))
        self.wait_for(lambda: self.committed_since(sid, freed) >= 3,
                      "periodic checkpoints to resume", 20)
        self.deja("stop", sid)
        self.assertEqual(self.catalog("PRAGMA integrity_check"), [("ok",)])
        for crid in (before[0], before[-1], self.crids(sid)[-1]):
            self.assert_revives(sid, crid)


    def record_screen(self):
        """A session whose screen keeps changing, recorded once its recording has started."""
        self.deja("init")
        sid = self.record("sh", "-c", "while :; do xterm -e sleep 0.3; done", display=True,
                          interval="1")
        self.wait_for(lambda: self.catalog("SELECT count(*) FROM display_segments WHERE "
                                           "session = ?", sid)[0][0] > 0,
                      "the screen recording to start", 30)
        return sid

    def x_server(self, sid):
        for pid in open(os.path.join(session_cgroup(sid), "cgroup.procs")).read().split():
            try:
                if open(f"/proc/{pid}/comm").read().strip() == "Xvfb":
                    return int(pid)
            except FileNotFoundError:
                pass
        return None

    def test_the_screen_recorder_lives_through_a_full_disk(self):
        sid = self.record_screen()
        self.fill(self.host, 16 * MiB)
        self.fill(self.fs, 0)
        time.sleep(4)  # xterms come and go meanwhile
        self.assertEqual(self.session(sid)["state"], "recording")
        self.assertIn("rw", self.store_mount_options())
        self.free()
        time.sleep(2)
        self.deja("stop", sid)
        # No segment is left open: the one the full disk cut off was recovered once there was
        # room again, at the latest when the recording stopped.
        self.assertEqual(self.catalog("SELECT count(*) FROM display_segments WHERE session = ? "
                                      "AND state = 'open'", sid), [(0,)])
        self.assertEqual(self.catalog("PRAGMA integrity_check"), [("ok",)])

    @unittest.skip("known defect: the session's Xvfb writes its screen through a shared "
                   "mapping of a file in the session's files; on a full btrfs a write fault "
                   "there is SIGBUS, and the X server dies (docs/storage.md)")
    def test_the_sessions_x_server_lives_through_a_full_disk(self):
        sid = self.record_screen()
        xvfb = self.x_server(sid)
        self.assertIsNotNone(xvfb)
        self.fill(self.host, 16 * MiB)
        self.fill(self.fs, 0)
        time.sleep(4)
        self.free()
        self.assertEqual(self.x_server(sid), xvfb)


class DiskFullFaultTest(SmallHostTestCase):
    """The fault-injection rounds of issue 13 with a full disk: each round fills the disk,
    either while a 48 MiB image is to be written back or with the store's btrfs full to the
    last block while snapshots are taken, and kills the recorder at a random point; the
    daemon replaces it. Afterwards every committed checkpoint revives and the catalog's
    integrity check passes."""

    def recorder_replaced(self, sid, old):
        return self.session(sid)["state"] == "recording" and self.recorder_pid(sid) != old

    def no_space_reports(self, sid):
        try:
            with open(os.path.join(self.store, "run", sid + ".log")) as f:
                return f.read().count("No space left on device")
        except FileNotFoundError:  # the daemon writes it at its first attach
            return 0

    def test_kills_during_full_disk_write_back_and_snapshots_lose_no_checkpoint(self):
        self.deja("init")
        self.start_daemon()
        sid = self.record(*PROGRAM, interval="1")
        rng = random.Random(13)
        self.wait_for(lambda: len(self.crids(sid)) >= 2, "two checkpoints")
        for round_ in range(4):
            write_back = round_ % 2 == 0
            self.fill(self.host, 16 * MiB)
            if write_back:
                # Room for small images but not for the next one, 48 MiB.
                self.fill(self.fs, 24 * MiB)
                self.deja("exec", sid, "--", "touch", "/tmp/dirty")
            else:
                self.fill(self.fs, 0)
            reports = self.no_space_reports(sid)
            time.sleep(rng.uniform(0.2, 1.5))
            old = self.recorder_pid(sid)
            killed = self.kill_recorder(sid)
            # Recording again within 5 s of the kill, though nothing can be committed.
            self.wait_for(lambda: self.recorder_replaced(sid, old), "a new recorder", 5)
            self.wait_for(lambda: self.no_space_reports(sid) > reports,
                          "a checkpoint to meet ENOSPC", 10)
            self.assertIn("rw", self.store_mount_options())
            self.free()
            self.assert_store_writable()
            freed = time.time()
            self.wait_for(lambda: self.committed_since(sid, freed) >= 1,
                          f"a checkpoint after round {round_} (killed at {killed:.1f})", 20)
        self.assertEqual([g["reason"] for g in self.deja_json("gaps", sid)], ["unrecorded"] * 4)
        self.deja("stop", sid)
        self.assertEqual(self.catalog("PRAGMA integrity_check"), [("ok",)])
        images = os.path.join(self.fs, "images")
        for c in self.deja_json("checkpoints", sid):
            self.assertTrue(os.path.exists(os.path.join(images, c["image"])), c)
        for crid in self.crids(sid):
            self.assert_revives(sid, crid)
