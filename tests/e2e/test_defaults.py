"""`deja record` as a user runs it: no --interval (one checkpoint a second) and, unless said
otherwise, a display. Every other e2e test records with --interval 0 and most without a
display, so this is where the defaults and the cadence's back-off are tested."""

import os
import re
import time

from harness import StoreTestCase

# Changes something every 0.2 s, so every tick has a reason to checkpoint; when the test
# leaves ~/stop-me, starts a child and stops it (job control), which no checkpoint takes.
BUSY = ["sh", "-c", "while true; do date > ~/now; if [ -e ~/stop-me ]; then rm ~/stop-me; "
        "sleep 1000 </dev/null >/dev/null 2>&1 & kill -STOP $!; echo $! > ~/stopped; fi; "
        "sleep 0.2; done"]


class DefaultsTest(StoreTestCase):
    def setUp(self):
        super().setUp()
        self.init()

    def record_as_a_user(self, *flags):
        """`deja record --detach [FLAGS] -- BUSY`, with the cadence at its default."""
        sid = self.deja("record", "--detach", *flags, "--", *BUSY).stdout.strip()
        self.assertRegex(sid, r"^[0-9a-f]{8}$")
        self.sessions.append(sid)
        return sid

    def recorder_log(self, sid):
        path = os.path.join(self.store, "run", f"{sid}.log")
        with open(path) as f:
            return f.read()

    def test_screen_is_recorded_by_default(self):
        sid = self.record_as_a_user()
        time.sleep(3)
        self.deja("stop", sid)
        png = os.path.join(self.dir, "frame.png")
        self.deja("frame", f"{sid}@1", "-o", png)
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    def test_checkpoints_once_a_second_with_the_display(self):
        sid = self.record_as_a_user()
        self.wait_for(lambda: len(self.deja_json("checkpoints", sid)) >= 4,
                      "four periodic checkpoints", timeout=15)
        self.assertNotIn("checkpoint failed", self.recorder_log(sid))

    def test_checkpoints_once_a_second_without_a_display(self):
        sid = self.record_as_a_user("--no-display")
        self.wait_for(lambda: len(self.deja_json("checkpoints", sid)) >= 4,
                      "four periodic checkpoints", timeout=15)
        times = [c["t"] for c in self.deja_json("checkpoints", sid)]
        self.assertEqual(times, sorted(times))

    def test_a_repeating_failure_is_logged_once_and_retried_until_it_clears(self):
        # A job-control-stopped process fails every checkpoint the same way (refused by
        # name); the recorder says so once, keeps retrying ever less often, and checkpoints
        # again once the process is continued.
        sid = self.record_as_a_user("--no-display")
        # Inside the session's own tree: what deja exec starts runs beside the session and is
        # not part of its checkpoints.
        with open(os.path.join(self.store, "fs", "sessions", sid, "home", "stop-me"), "w"):
            pass
        stopped_at = time.monotonic()
        self.wait_for(lambda: "periodic checkpoint failed" in self.recorder_log(sid),
                      "the first failed periodic checkpoint", timeout=15)
        committed_before = len(self.deja_json("checkpoints", sid))
        time.sleep(max(0.0, stopped_at + 6 - time.monotonic()))  # several failing ticks
        log = self.recorder_log(sid)
        self.assertEqual(len(re.findall("periodic checkpoint failed", log)), 1, log)
        self.assertIn("is stopped (SIGSTOP/SIGTSTP)", log)
        self.assertEqual(len(self.deja_json("checkpoints", sid)), committed_before)
        self.assertEqual(self.session(sid)["state"], "recording")

        self.deja("exec", sid, "--", "sh", "-c", "kill -CONT $(cat ~/stopped)")
        # Retried at least every 16 ticks, so it is back within 16 s, then once a second.
        self.wait_for(lambda: len(self.deja_json("checkpoints", sid)) >= committed_before + 3,
                      "checkpoints again after the process was continued", timeout=25)
