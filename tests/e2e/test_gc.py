"""deja gc thins aged checkpoints by the retention policy, removes their snapshots and the
leftovers of uncommitted checkpoints, and changes nothing on a dry run."""

import math
import os
import sqlite3
import subprocess
import time

from harness import StoreTestCase


class GcTest(StoreTestCase):
    def age_checkpoints(self, times):
        db = sqlite3.connect(os.path.join(self.store, "catalog.db"))
        for crid, t in times.items():
            db.execute("UPDATE checkpoints SET time = ? WHERE crid = ?", (t, crid))
        db.commit()
        db.close()

    def test_retention_and_leftovers(self):
        self.init()
        sid = self.record("sleep", "1000")
        crids = [int(self.deja("checkpoint", sid).stdout) for _ in range(6)]
        self.deja("stop", sid)
        now = time.time()
        old_hour = math.floor((now - 3 * 86400) / 3600) * 3600
        old_minute = math.floor((now - 2 * 3600) / 60) * 60
        self.age_checkpoints(dict(zip(crids, [old_hour + 60, old_hour + 120, old_minute + 5,
                                              old_minute + 10, now - 30, now - 20])))
        snapshots = {c["crid"]: c["snapshot"] for c in self.deja_json("checkpoints", sid)}
        # A snapshot whose checkpoint was never committed (a recorder killed mid-checkpoint).
        leftover = os.path.join(self.store, "fs", "snapshots", sid, "999999")
        subprocess.run(["btrfs", "subvolume", "snapshot", "-r",
                        os.path.join(self.store, "fs", "sessions", sid), leftover],
                       check=True, capture_output=True)

        dry = self.deja_json("gc", "--dry-run")
        self.assertEqual(sorted(d["crid"] for d in dry["deleted"]), [crids[0], crids[2]])
        self.assertEqual(dry["leftovers"], [leftover])
        self.assertEqual(len(self.deja_json("checkpoints", sid)), 6)
        self.assertTrue(os.path.exists(leftover))

        report = self.deja("gc", "--json")
        self.assertRegex(report.stderr, r"\[1/\d+\] deleting")
        kept = [c["crid"] for c in self.deja_json("checkpoints", sid)]
        self.assertEqual(kept, [crids[1], crids[3], crids[4], crids[5]])
        for crid, path in snapshots.items():
            self.assertEqual(os.path.exists(path), crid in kept, crid)
        self.assertFalse(os.path.exists(leftover))
        # Nothing more to do the second time.
        again = self.deja_json("gc")
        self.assertEqual((again["deleted"], again["leftovers"], again["kept"]), ([], [], 4))

    def test_bad_duration_changes_nothing(self):
        self.init()
        p = self.deja("gc", "--keep-all", "forever", check=False)
        self.assert_one_line_error(p, "forever")
