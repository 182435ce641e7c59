"""Incremental chains through the real deja binary: a program whose memory keeps changing is
checkpointed 32 times (the first image full, the rest holding only the pages written since,
with references to older images for the rest), then revived from CRIDs along the chain; each
revived copy replays its own history and checks every page. gc keeps the images that kept
checkpoints refer to. Killing the recorder at many points leaves the session running and
thawed and every committed checkpoint revivable."""

import json
import os
import random
import re
import signal
import sqlite3
import time

from harness import StoreTestCase, host_pid, session_cgroup, running
from test_revive import ReviveTestCase, STAGED, ZDTM_DIR

CHAIN = "zdtm_memory_chain"


class ChainTestCase(ReviveTestCase):
    image_size = "4G"

    def start_chain_program(self, interval="0", nap_us=None):
        command = STAGED if nap_us is None else [*STAGED[:-1], f"{STAGED[-1]} {nap_us}"]
        sid = self.record(*command, interval=interval)
        self.stage(sid, os.path.join(ZDTM_DIR, CHAIN))
        self.wait_log(sid, "ready")
        return sid

    def userfaultfds(self, pid):
        fds = os.listdir(f"/proc/{pid}/fd")
        return [fd for fd in fds if "userfaultfd" in os.readlink(f"/proc/{pid}/fd/{fd}")]

    def inherits_from(self, row):
        """Base CRIDs of the image's pageinherit records."""
        path = os.path.join(self.store, "fs", "images", row["image"])
        image = json.loads(self.deja("image", "show", path).stdout)
        return {r["base_crid"] for r in image["records"] if r["type"] == "pageinherit"}

    def revive_and_verify(self, sid, crid):
        branch = self.revive(f"{sid}:{crid}")
        os.kill(host_pid(branch, 2), signal.SIGUSR1)
        s = self.wait_stopped(branch)
        log = self.log(branch)
        self.assertEqual(s["exit_status"], 0, f"{sid}:{crid}:\n{log}")
        self.assertIn(f"PASS {CHAIN}", log)
        return log


class ChainTest(ChainTestCase):
    def test_revive_along_a_chain_of_32(self):
        sid = self.start_chain_program()
        crids = []
        for _ in range(32):
            crids.append(int(self.deja("checkpoint", sid).stdout))
            time.sleep(0.05)
        rows = self.deja_json("checkpoints", sid)
        self.assertEqual([r["crid"] for r in rows], crids)
        # The tracker's userfaultfd is the recorder's alone: the program never holds it.
        self.assertEqual(self.userfaultfds(host_pid(sid, 2)), [])
        self.assertIsNone(rows[0]["parent_crid"])
        for prev, row in zip(rows, rows[1:]):
            self.assertEqual(row["parent_crid"], prev["crid"])
            # Only what was written since: far less than the program's 8 MiB region.
            self.assertLess(row["image_bytes"], rows[0]["image_bytes"] / 2, row)
        # Every 17th image lists all its references; the 16 after it inherit from it.
        for i, base in ((9, 0), (20, 17), (31, 17)):
            self.assertEqual(self.inherits_from(rows[i]), {crids[base]}, i)
        self.assertEqual(self.inherits_from(rows[17]), set())
        for crid in (crids[0], crids[1], crids[9], crids[17], crids[20], crids[31]):
            with self.subTest(crid=crid):
                self.revive_and_verify(sid, crid)
        # The original ran on unharmed and checks its own memory too.
        os.kill(host_pid(sid, 2), signal.SIGUSR1)
        self.assertEqual(self.wait_stopped(sid)["exit_status"], 0, self.log(sid))

    def test_pages_written_while_they_are_copied(self):
        # No pause between steps: pages change while the recorder copies them ahead of the
        # freeze (all of them for the first checkpoint, the written ones after), so the
        # capture under the freeze must copy them again.
        sid = self.start_chain_program(nap_us=0)
        crids = [int(self.deja("checkpoint", sid).stdout) for _ in range(12)]
        for crid in (crids[0], crids[1], crids[11]):
            with self.subTest(crid=crid):
                self.revive_and_verify(sid, crid)
        os.kill(host_pid(sid, 2), signal.SIGUSR1)
        self.assertEqual(self.wait_stopped(sid)["exit_status"], 0, self.log(sid))

    def test_file_mapped_past_its_end(self):
        # A mapping new to the recorder is write-protected and read in full; the protection's
        # markers cover the pages past the file's end too, which cannot be read (EIO). Every
        # checkpoint must still succeed, and revive as it was.
        sid = self.record(*STAGED)
        self.stage(sid, os.path.join(ZDTM_DIR, "zdtm_file_past_eof"))
        self.wait_log(sid, "ready")
        crids = [int(self.deja("checkpoint", sid).stdout) for _ in range(30)]
        branch = self.revive(f"{sid}:{crids[-1]}")
        os.kill(host_pid(branch, 2), signal.SIGUSR1)
        self.assertEqual(self.wait_stopped(branch)["exit_status"], 0, self.log(branch))
        self.assertIn("PASS zdtm_file_past_eof", self.log(branch))
        os.kill(host_pid(sid, 2), signal.SIGUSR1)
        self.assertEqual(self.wait_stopped(sid)["exit_status"], 0, self.log(sid))

    def test_zdtm_memory_programs_from_a_chain(self):
        # The suite's memory programs hold still after setup: their chain is one full image
        # and 29 that refer to it for nearly everything.
        for name in ("zdtm_anon_memory", "zdtm_shmem", "zdtm_madvise"):
            with self.subTest(program=name):
                sid = self.record(*STAGED)
                self.stage(sid, os.path.join(ZDTM_DIR, name))
                self.wait_log(sid, "ready")
                crids = [int(self.deja("checkpoint", sid).stdout) for _ in range(30)]
                rows = self.deja_json("checkpoints", sid)
                self.assertTrue(all(r["parent_crid"] for r in rows[1:]), rows)
                for crid in (crids[1], crids[15], crids[29]):
                    branch = self.revive(f"{sid}:{crid}")
                    os.kill(host_pid(branch, 2), signal.SIGUSR1)
                    self.assertEqual(self.wait_stopped(branch)["exit_status"], 0, self.log(branch))
                    self.assertIn(f"PASS {name}", self.log(branch))
                os.kill(host_pid(sid, 2), signal.SIGUSR1)
                self.assertEqual(self.wait_stopped(sid)["exit_status"], 0, self.log(sid))

    def test_gc_keeps_images_that_kept_checkpoints_refer_to(self):
        sid = self.start_chain_program()
        crids = [int(self.deja("checkpoint", sid).stdout) for _ in range(4)]
        # Age the first three beyond every retention bucket but one: gc deletes their rows.
        db = sqlite3.connect(os.path.join(self.store, "catalog.db"))
        old = time.time() - 3 * 86400
        for i, crid in enumerate(crids[:3]):
            db.execute("UPDATE checkpoints SET time = ? WHERE crid = ?", (old + i, crid))
        db.commit()
        db.close()
        self.deja("gc")
        kept = [c["crid"] for c in self.deja_json("checkpoints", sid)]
        self.assertEqual(kept, [crids[2], crids[3]])
        images = os.path.join(self.store, "fs", "images", sid)
        # The full first image holds most pages of the last one: it stays.
        self.assertTrue(os.path.exists(os.path.join(images, f"{crids[0]}.img")))
        self.revive_and_verify(sid, crids[3])

    def test_compact_lets_gc_remove_the_chain(self):
        sid = self.start_chain_program()
        crids = [int(self.deja("checkpoint", sid).stdout) for _ in range(5)]
        p = self.deja("compact", f"{sid}:{crids[-1]}")
        self.assertIn("[100%]", p.stderr)
        row = self.deja_json("checkpoints", sid)[-1]
        self.assertIsNone(row["parent_crid"])
        self.assertTrue(row["image"].endswith(f"{crids[-1]}.full.img"), row)
        self.assertIn("already has a full image", self.deja("compact", sid).stdout)
        # Keep only each hour's latest: of these, the compacted one. The session is live, so
        # the chain image its recorder builds on stays, and what that refers to.
        self.deja("gc", "--keep-all", "0", "--keep-minutely", "0")
        self.assertEqual([c["crid"] for c in self.deja_json("checkpoints", sid)], [crids[-1]])
        images = set(os.listdir(os.path.join(self.store, "fs", "images", sid)))
        self.assertIn(f"{crids[-1]}.full.img", images)
        self.revive_and_verify(sid, crids[-1])
        # Once the recorder is gone nothing builds on the chain any more: one image is left.
        os.kill(host_pid(sid, 2), signal.SIGUSR1)
        self.wait_stopped(sid)
        self.deja("gc", "--keep-all", "0", "--keep-minutely", "0")
        self.assertEqual(os.listdir(os.path.join(self.store, "fs", "images", sid)),
                         [f"{crids[-1]}.full.img"])
        self.revive_and_verify(sid, crids[-1])

    def test_exec_between_checkpoints_starts_tracking_over(self):
        # The shell execs python3 between two checkpoints: the tracker made for the shell's
        # memory is stale, the next checkpoint reads the new program in full and tracks it.
        sid = self.record("sh", "-c", "while [ ! -e ~/go ]; do sleep 0.05; done; exec python3 -u -c "
                          "'import time\ni = 0\nwhile True:\n    i += 1\n    print(\"n\", i)\n"
                          "    time.sleep(0.1)'")
        self.deja("checkpoint", sid)
        open(os.path.join(self.store, "fs", "sessions", sid, "home", "go"), "w").close()
        self.wait_log(sid, "n 3")
        crids = [int(self.deja("checkpoint", sid).stdout) for _ in range(3)]
        rows = self.deja_json("checkpoints", sid)
        self.assertIsNotNone(rows[-1]["parent_crid"])
        # python3's memory was read in full once after the exec, then tracked again.
        self.assertLess(rows[-1]["image_bytes"], rows[1]["image_bytes"] / 2, rows)
        at = int(re.findall(r"n (\d+)", self.log(sid))[-1])
        branch = self.revive(f"{sid}:{crids[-1]}")
        self.wait_log(branch, f"n {at + 5}")
        numbers = [int(n) for n in re.findall(r"n (\d+)", self.log(branch))]
        self.assertEqual(numbers, list(range(1, len(numbers) + 1)))


class RecorderKillTest(ChainTestCase):
    def recorder_pid(self, sid):
        db = sqlite3.connect(os.path.join(self.store, "catalog.db"))
        [pid] = db.execute("SELECT supervisor_pid FROM sessions WHERE id = ?", (sid,)).fetchone()
        db.close()
        return pid

    def cgroup_frozen(self, sid):
        with open(os.path.join(session_cgroup(sid), "cgroup.events")) as f:
            return "frozen 1" in f.read()

    def alive(self, pid):
        try:
            return running(pid)
        except ProcessLookupError:  # gone between open and read
            return False

    def test_sigkill_at_many_points(self):
        rng = random.Random(4)
        rounds = 12
        for round_ in range(rounds):
            with self.subTest(round=round_):
                sid = self.start_chain_program(interval="0.05")
                # Checkpoints from here on see the program past its setup.
                ready = len(self.deja_json("checkpoints", sid))
                recorder = self.recorder_pid(sid)
                self.wait_for(lambda: len(self.deja_json("checkpoints", sid)) >= ready + 2,
                              "two checkpoints of the running program", 30)
                time.sleep(rng.uniform(0, 0.3))
                os.kill(recorder, signal.SIGKILL)
                program = host_pid(sid, 2)
                # The thaw guard thaws within moments.
                self.wait_for(lambda: not self.cgroup_frozen(sid), "the session to thaw", 5)
                # The catalog names only complete checkpoints, and they revive.
                rows = self.deja_json("checkpoints", sid)
                images = os.path.join(self.store, "fs", "images")
                for r in rows:
                    self.assertTrue(os.path.exists(os.path.join(images, r["image"])), r)
                self.revive_and_verify(sid, rows[-1]["crid"])
                if len(rows) > ready + 1:
                    self.revive_and_verify(sid, rng.choice(rows[ready:-1])["crid"])
                # Even a kill in the middle of a syscall the engine runs inside a task leaves
                # it running: the task restores itself from the engine's pages. It never
                # keeps the recorder's userfaultfd.
                self.assertTrue(self.alive(program), f"round {round_}: the original died")
                self.assertEqual(self.userfaultfds(program), [])
                os.kill(program, signal.SIGUSR1)
                self.wait_for(lambda: not self.alive(program), "the original to finish", 10)
                self.assertIn(f"PASS {CHAIN}", self.log(sid))
                # Without a recorder, stop still ends what is left and removes its cgroup.
                self.deja("stop", sid)
                self.assertFalse(os.path.exists(session_cgroup(sid)))
