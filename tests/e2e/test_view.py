"""deja view through the real binary: a desktop session viewed from a separate Xvfb (the
viewer's own display, standing in for the user's desktop), typed into and clicked with XTest
on that display (xdotool), as a user would. The session's files and framebuffer show that the
input arrived and that the viewer shows the session's screen."""

import os
import random
import signal
import subprocess
import time

from desktop_support import session_programs
from harness import DEJA, StoreTestCase
from xwdscreen import XwdScreen

STEEL_BLUE = (70, 130, 180)  # the title bars of the desktop's twm (recorder/Session.cpp)
WHITE = (255, 255, 255)  # the xterm's background


class ViewTest(StoreTestCase):
    def setUp(self):
        super().setUp()
        self.init()
        self.viewer_display = self.start_viewer_xvfb()

    def start_viewer_xvfb(self):
        """An Xvfb of its own for the viewer, on a display number nobody holds."""
        fbdir = os.path.join(self.dir, "viewer-fb")
        os.mkdir(fbdir)
        number = next(n for n in random.sample(range(100, 1000), 900)
                      if not os.path.exists(f"/tmp/.X{n}-lock")
                      and not os.path.exists(f"/tmp/.X11-unix/X{n}"))
        xvfb = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1400x900x24",
                                 "-nolisten", "tcp", "-noreset", "-fbdir", fbdir],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.end_process, xvfb)
        self.wait_for(lambda: os.path.exists(f"/tmp/.X11-unix/X{number}")
                      and os.path.exists(os.path.join(fbdir, "Xvfb_screen0")),
                      "the viewer's Xvfb", timeout=20)
        self.viewer_screen = self.open_screen(os.path.join(fbdir, "Xvfb_screen0"))
        return f":{number}"

    def open_screen(self, path):
        """Maps an Xvfb framebuffer once Xvfb has written its header (it creates the file
        first)."""
        screens = []

        def opened():
            try:
                screens.append(XwdScreen(path))
                return True
            except (OSError, ValueError):
                return False

        self.wait_for(opened, f"a readable framebuffer in {path}", timeout=20)
        self.addCleanup(screens[0].close)
        return screens[0]

    def end_process(self, proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def xdotool(self, *args):
        return subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": self.viewer_display},
                              capture_output=True, text=True, timeout=30)

    def start_desktop(self):
        sid = self.deja("record", "--detach", "--interval", "0").stdout.strip()
        self.sessions.append(sid)
        self.wait_for(lambda: {"twm", "xterm"} <= session_programs(sid),
                      "the desktop to start", timeout=20)
        files = os.path.join(self.store, "fs", "sessions", sid)
        self.wait_for(lambda: os.path.exists(os.path.join(files, "run/deja/display/Xvfb_screen0")),
                      "the session's framebuffer")
        screen = self.open_screen(os.path.join(files, "run/deja/display/Xvfb_screen0"))
        # twm has framed the xterm once its steel-blue title bar is on screen.
        self.wait_for(lambda: screen.count_near(STEEL_BLUE, 0, 0, 1280, 800) > 2000,
                      "twm's frame around the xterm", timeout=20)
        return sid, files, screen

    def open_viewer(self, sid):
        log = open(os.path.join(self.dir, f"view-{sid}.log"), "w+")
        viewer = subprocess.Popen([DEJA, "--store", self.store, "view", sid], stdout=log,
                                  stderr=log, env={**os.environ, "DISPLAY": self.viewer_display})
        self.addCleanup(self.end_process, viewer)
        self.addCleanup(log.close)
        window = []

        def shown():
            found = self.xdotool("search", "--name", f"deja view {sid}").stdout.split()
            window[:] = found
            return bool(found)

        try:
            self.wait_for(shown, "the viewer's window", timeout=20)
        except AssertionError:
            log.seek(0)
            self.fail(f"no viewer window; deja view said: {log.read()}")
        return viewer, window[0], log

    def viewer_shows_session(self, session_screen, top=0, width=1280, height=800):
        """The viewer's window (at 0,0 on its bare Xvfb, 1:1) holds the session's pixels."""
        return all(self.viewer_screen.row(y, 0, width) == session_screen.row(y, 0, width)
                   for y in range(top, height, 7))

    def type_into_viewer(self, x, y, text):
        # xterm ignores synthetic key events: move the pointer and type through XTest.
        self.xdotool("mousemove", str(x), str(y))
        time.sleep(0.3)
        self.xdotool("type", "--delay", "40", text)

    def test_typing_into_the_viewer_runs_a_command_in_the_session(self):
        sid, files, screen = self.start_desktop()
        self.open_viewer(sid)
        self.wait_for(lambda: self.viewer_shows_session(screen), "the viewer to show the screen")
        # Shifted characters ($, (, *, ), >, ~) need the modifier forwarded with them.
        self.type_into_viewer(400, 300, "echo $((6*7)) > ~/viewed.txt\n")
        out = os.path.join(files, "home", "viewed.txt")
        self.wait_for(lambda: os.path.exists(out) and open(out).read() == "42\n",
                      "the command typed in the viewer to write its file")
        # Ctrl+U (Control held through the viewer) clears the line typed before it.
        self.type_into_viewer(400, 300, "garbage")
        self.xdotool("key", "ctrl+u")
        self.type_into_viewer(400, 300, "echo ok > ~/ctrl.txt\n")
        ctrl = os.path.join(files, "home", "ctrl.txt")
        self.wait_for(lambda: os.path.exists(ctrl) and open(ctrl).read() == "ok\n",
                      "Ctrl+U to clear the line")
        # What the command printed reaches the viewer: it shows the session's screen again.
        self.wait_for(lambda: self.viewer_shows_session(screen), "the viewer to follow the screen")

    def test_resized_viewer_scales_the_screen_and_maps_the_pointer(self):
        sid, files, screen = self.start_desktop()
        _, window, _ = self.open_viewer(sid)
        self.xdotool("windowsize", window, "640", "400")
        # At half size the xterm's white covers a quarter of the pixels it covers in the
        # session (the 640x400 corner of an unscaled view would hold half again as many).
        white = screen.count_near(WHITE, 0, 0, 1280, 800)
        self.wait_for(lambda: 0.2 * white < self.viewer_screen.count_near(
            WHITE, 0, 0, 640, 400) < 0.3 * white, "the viewer to scale the screen")
        # (30, 150) in the half-size view is (60, 300) in the session, inside the xterm; the
        # same point unscaled would be on the bare desktop, where typing goes nowhere.
        self.type_into_viewer(30, 150, "echo scaled > ~/scaled.txt\n")
        out = os.path.join(files, "home", "scaled.txt")
        self.wait_for(lambda: os.path.exists(out), "typing at a scaled position to reach the xterm")

    def test_buttons_and_wheel_reach_the_session(self):
        sid, files, screen = self.start_desktop()
        self.open_viewer(sid)
        self.type_into_viewer(400, 300, "seq 200\n")
        time.sleep(1)
        before = screen.region(40, 60, 900, 560)
        # The wheel scrolls the xterm back: its text moves.
        self.xdotool("click", "--repeat", "5", "4")
        self.wait_for(lambda: screen.region(40, 60, 900, 560) != before, "the wheel to scroll")
        # A press of button 1 on the bare desktop opens twm's menu until it is released.
        self.xdotool("mousemove", "1100", "700")
        time.sleep(0.3)
        desk = screen.region(1000, 650, 280, 150)
        self.xdotool("mousedown", "1")
        try:
            self.wait_for(lambda: screen.region(1000, 650, 280, 150) != desk,
                          "button 1 to open twm's menu")
        finally:
            self.xdotool("mouseup", "1")

    def test_viewer_outlives_the_session_and_closing_it_leaves_the_session(self):
        sid, files, screen = self.start_desktop()
        viewer, _, log = self.open_viewer(sid)
        self.wait_for(lambda: self.viewer_shows_session(screen), "the viewer to show the screen")
        viewer.send_signal(signal.SIGTERM)  # what closing the window does: quit the viewer
        viewer.wait(timeout=10)
        time.sleep(0.5)
        self.assertEqual(self.session(sid)["state"], "recording")
        self.assertTrue({"twm", "xterm"} <= session_programs(sid))
        # A viewer whose session ends says so and stays open on the last frame.
        viewer, _, log = self.open_viewer(sid)
        self.wait_for(lambda: self.viewer_shows_session(screen), "the viewer to show the screen")
        self.deja("stop", sid)
        self.wait_for(lambda: "ended" in open(log.name).read(), "the viewer to notice the end",
                      timeout=10)
        self.assertIsNone(viewer.poll())
        # The session's last screen (its windows closed by the stop) under a line that
        # says it ended.
        # (The viewer's own pointer, shown again once input stops, is moved off the window.)
        self.xdotool("mousemove", "1390", "890")
        time.sleep(1.5)
        self.assertTrue(self.viewer_shows_session(screen, top=40))
        self.assertFalse(self.viewer_shows_session(screen, height=20))

    def test_a_viewed_session_checkpoints_and_its_branch_is_viewed_and_typed_into(self):
        sid, files, screen = self.start_desktop()
        viewer, _, _ = self.open_viewer(sid)
        self.wait_for(lambda: self.viewer_shows_session(screen), "the viewer to show the screen")
        # The viewer's X connection has its peer outside the session: checkpoints take it.
        crid = self.deja("checkpoint", sid).stdout.strip()
        self.assertTrue(crid.isdigit(), crid)
        self.end_process(viewer)
        branch = self.deja("revive", f"{sid}:{crid}", "--detach").stdout.strip()
        self.sessions.append(branch)
        branch_files = os.path.join(self.store, "fs", "sessions", branch)
        branch_screen = self.open_screen(os.path.join(branch_files,
                                                      "run/deja/display/Xvfb_screen0"))
        self.open_viewer(branch)
        self.wait_for(lambda: self.viewer_shows_session(branch_screen),
                      "the viewer to show the branch's screen")
        self.type_into_viewer(400, 300, "echo branch > ~/inbranch.txt\n")
        out = os.path.join(branch_files, "home", "inbranch.txt")
        self.wait_for(lambda: os.path.exists(out) and open(out).read() == "branch\n",
                      "typing into the branch's viewer to run there")
        self.assertFalse(os.path.exists(os.path.join(files, "home", "inbranch.txt")))

    def test_bad_sessions_are_refused_in_one_line(self):
        env = {**os.environ, "DISPLAY": self.viewer_display}

        def view(sid):
            return subprocess.run([DEJA, "--store", self.store, "view", sid], env=env,
                                  capture_output=True, text=True, timeout=30)

        self.assert_one_line_error(view("00000000"), "no session")
        plain = self.record("sleep", "60")
        time.sleep(1)
        self.assert_one_line_error(view(plain), "--no-display")
        self.deja("stop", plain)
        self.assert_one_line_error(view(plain), "not running")


if __name__ == "__main__":
    import unittest
    unittest.main()
