"""The default desktop and recent frames through the real deja binary: `deja record` with no
command runs twm and an xterm in the session, and `deja frame` on the live session shows the
screen as it was one second ago (the segment still being recorded is read as it grows)."""

import datetime
import os
import random
import signal
import time

from desktop_support import iso, session_programs
from harness import StoreTestCase, running
from pngpixels import count_near
from screentext import read_png, shows

# These tests ask which moment a frame shows, with plain Tesseract as the instrument (Deja's
# own recognition and search are tested with words of every letter in test_display.py and
# display_xvfb). The marker strings are random, not words, so Tesseract has no dictionary to
# lean on; they are drawn from letters it does not confuse with each other in the desktop's
# 11 pt terminal font (f/t, j/y, i/l were), so that a marker reads as itself.
LETTERS = "acehkmnrsuxz"


def random_word():
    return "".join(random.choice(LETTERS) for _ in range(7))



class DefaultDesktopTest(StoreTestCase):
    def start_desktop(self, *options):
        sid = self.deja("record", "--detach", "--interval", "0", *options).stdout.strip()
        self.assertRegex(sid, r"^[0-9a-f]{8}$")
        self.sessions.append(sid)
        self.wait_for(lambda: {"twm", "xterm"} <= session_programs(sid),
                      "twm and xterm to run in the session", timeout=20)
        return sid

    def frame_at(self, sid, unix_seconds):
        png = os.path.join(self.dir, f"frame-{unix_seconds:.3f}.png")
        self.deja("frame", f"{sid}@{iso(unix_seconds)}", "-o", png)
        return png

    def type_in_terminal(self, sid, text):
        # The xterm's shell owns the session's first pty; writing to it puts text on screen.
        self.deja("exec", sid, "--", "sh", "-c", f"echo {text} > /dev/pts/0")

    def test_no_command_starts_the_desktop_and_the_frame_shows_it(self):
        self.init()
        sid = self.start_desktop()
        session = self.session(sid)
        self.assertEqual(session["name"], "desktop")
        self.assertEqual(session["command"][:2], ["sh", "-c"])
        time.sleep(2)
        word = random_word()
        self.type_in_terminal(sid, word)
        time.sleep(1.5)
        png = self.frame_at(sid, time.time() - 1)
        # The xterm shows what its shell printed...
        self.assertTrue(shows(read_png(png), word), read_png(png))
        # ...inside twm's frame: the title bar is steel blue (twmrc), which neither a bare
        # xterm (black on white) nor Xvfb's black root has.
        self.assertGreater(count_near(png, (70, 130, 180)), 2000)

    def test_desktop_flag_and_its_bad_combinations(self):
        self.init()
        sid = self.start_desktop("--desktop")
        self.assertEqual(self.session(sid)["name"], "desktop")
        p = self.deja("record", "--desktop", "--", "true", check=False)
        self.assert_one_line_error(p, "--desktop")
        p = self.deja("record", "--no-display", check=False)
        self.assert_one_line_error(p, "needs a display")

    def test_frame_one_second_ago_on_a_live_session(self):
        self.init()
        sid = self.start_desktop()
        time.sleep(2)
        first, second = random_word(), random_word()
        self.type_in_terminal(sid, first)
        time.sleep(1.6)
        self.type_in_terminal(sid, second)
        written = time.time()
        # One second ago the first word was on screen (0.6 s old) and the second was not.
        early = read_png(self.frame_at(sid, written - 1.0))
        self.assertTrue(shows(early, first), early)
        self.assertFalse(shows(early, second), early)
        time.sleep(1.4)
        late = read_png(self.frame_at(sid, time.time() - 1.0))
        self.assertTrue(shows(late, second), late)
        # Both come from the segment being recorded: none is finished yet.
        self.assertEqual(self.segment_states(sid), ["open"])

    def segment_states(self, sid):
        return [s for (s,) in self.catalog(
            "SELECT state FROM display_segments WHERE session = ?", sid)]

    def test_frame_after_the_recorder_died_is_its_last_recorded_screen(self):
        self.init()
        sid = self.start_desktop()
        time.sleep(2)
        word = random_word()
        self.type_in_terminal(sid, word)
        time.sleep(1.5)
        (pid,), = self.catalog("SELECT supervisor_pid FROM sessions WHERE id = ?", sid)
        os.kill(pid, signal.SIGKILL)  # the recorder, and with it the display recorder
        self.wait_for(lambda: not running(pid), "the recorder to die")
        # Its open segment is recovered on the way; its last frame stands for the time
        # after (a still screen, for all the catalog can tell: see recording-format.md; a
        # gap is reported only when recording resumed later, tested in display_unit).
        shown = read_png(self.frame_at(sid, time.time() - 0.5))
        self.assertTrue(shows(shown, word), shown)
        self.assertEqual(self.segment_states(sid), ["recovered"])

    def test_frame_requests_outside_the_recording_say_which(self):
        self.init()
        sid = self.start_desktop()
        time.sleep(1.5)
        started = datetime.datetime.fromisoformat(
            self.session(sid)["started"].replace("Z", "+00:00")).timestamp()
        png = os.path.join(self.dir, "x.png")
        p = self.deja("frame", f"{sid}@{iso(time.time() + 30)}", "-o", png, check=False)
        self.assert_one_line_error(p, "in the future")
        p = self.deja("frame", f"{sid}@{iso(started - 5)}", "-o", png, check=False)
        self.assert_one_line_error(p, "before session", "started")
        p = self.deja("frame", f"{sid}@0", "-o", png, check=False)
        self.assert_one_line_error(p, "before the first recorded frame")
        self.assertFalse(os.path.exists(png))
        nodisplay = self.record("sleep", "60")
        time.sleep(1)
        p = self.deja("frame", f"{nodisplay}@0.5", "-o", png, check=False)
        self.assert_one_line_error(p, "no recorded screen")
        self.deja("stop", sid)
        ended = time.time()
        p = self.deja("frame", f"{sid}@{iso(ended + 5)}", "-o", png, check=False)
        self.assert_one_line_error(p, "after session", "ended")


if __name__ == "__main__":
    import unittest
    unittest.main()
