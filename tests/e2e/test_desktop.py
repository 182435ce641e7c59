"""A real X desktop through the real deja binary: Xvfb (the session's display), twm, an xterm
running bash, an analog clock ticking every second and a GTK 3 app on its own D-Bus session bus
(whose accessibility bus daemons GTK leaves to init), recorded with one checkpoint a second
for a minute of use. Every periodic checkpoint commits; an early, a middle and the latest
checkpoint each revive as a live desktop beside the still running original: its X server
takes a new client, it has the windows the original had at that moment, the clock goes on
drawing, and typing into its terminal (XTest, from inside the branch) runs a command against
the branch's own files. A host process connected to the session's X server does not stop
checkpoints; in a branch its connection reads as closed."""

import os
import socket
import struct
import time

from desktop_support import iso
from harness import StoreTestCase
from pngpixels import read_rgb
from xwdscreen import XwdScreen

TWMRC = 'RandomPlacement\nUsePPosition "on"\n'
# A window whose label counts the seconds, so its drawing shows the app is alive.
GTK_APP = """
import gi
gi.require_version("Gtk", "3.0")
from gi.repository import GLib, Gtk
window = Gtk.Window(title="gtk-app")
window.set_default_size(200, 60)
window.move(20, 150)  # clear of the terminals and the clock
label = Gtk.Label(label="0")
window.add(label)
window.show_all()
ticks = [0]
def tick():
    ticks[0] += 1
    label.set_text(str(ticks[0]))
    return True
GLib.timeout_add(1000, tick)
Gtk.main()
"""
DESKTOP = ["sh", "-c",
           f"printf '{TWMRC}' > /tmp/twmrc; twm -f /tmp/twmrc & "
           "xterm -geometry 80x24+300+100 -e bash & "
           "xclock -update 1 -geometry 164x164+20+400 & "
           f"dbus-run-session -- /usr/bin/python3 -c '{GTK_APP}' & wait"]
# Inside the first xterm, clear of the clock.
TERMINAL_SPOT = (500, 250)


class DesktopTest(StoreTestCase):
    image_size = "2G"

    def setUp(self):
        super().setUp()
        self.init()

    def x(self, sid, script, check=True):
        """Runs a shell script against the session's X server, from inside the session."""
        return self.deja("exec", sid, "--", "sh", "-c", "export DISPLAY=:0; " + script,
                         check=check)

    def windows(self, sid):
        tree = self.x(sid, "xwininfo -root -tree").stdout
        return sorted(name for name in ("xclock", "second-term", "bash", "gtk-app")
                      if f'"{name}"' in tree)

    def type_into_terminal(self, sid, command):
        x, y = TERMINAL_SPOT
        self.x(sid, f"xdotool mousemove {x} {y} && sleep 0.2 && "
                    f"xdotool type --delay 10 '{command}' && xdotool key Return")

    def home(self, sid):
        return os.path.join(self.store, "fs", "sessions", sid, "home")

    def screen_changes(self, sid, window="-root"):
        out = self.x(sid, f"xwd {window} -silent > /tmp/a.xwd; sleep 1.5; xwd {window} -silent > /tmp/b.xwd; "
                          "cmp -s /tmp/a.xwd /tmp/b.xwd && echo still || echo changed").stdout
        return out.strip() == "changed"

    def recording_shows_screen(self, sid, box):
        """Whether the session's recorded frame of a second ago has, in `box` (x, y, w, h: a
        part of the screen nothing redraws), what its screen has now: the same pixels up to
        the video encoding's loss (a mean difference under 8 of 255 a channel)."""
        png = os.path.join(self.dir, f"frame-{sid}.png")
        self.deja("frame", f"{sid}@{iso(time.time() - 1)}", "-o", png)
        _, _, rows = read_rgb(png)
        screen = XwdScreen(os.path.join(self.store, "fs", "sessions", sid, "run/deja/display/Xvfb_screen0"))
        self.addCleanup(screen.close)
        x, y, w, h = box
        difference, values = 0, set()
        for row in range(y, y + h):
            bgrx = screen.row(row, x, w)
            rgb = bytes(v for i in range(0, len(bgrx), 4) for v in (bgrx[i + 2], bgrx[i + 1], bgrx[i]))
            values.update(rgb)
            difference += sum(abs(a - b) for a, b in zip(rgb, rows[row][x * 3:(x + w) * 3]))
        self.assertGreater(max(values) - min(values), 100, "the box has no text to compare")
        return difference / (w * h * 3) < 8

    def connect_from_host(self, sid):
        """A host process's X connection to the session's server (through the socket file in
        the session's files): a socket whose peer is outside the session."""
        path = os.path.join(self.store, "fs", "sessions", sid, "tmp", ".X11-unix", "X0")
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(path)
        c.sendall(struct.pack("<cxHHHHxx", b"l", 11, 0, 0, 0))  # connection setup, no auth
        head = c.recv(8)
        self.assertEqual(head[0], 1, "the session's X server refused the host's connection")
        length = struct.unpack("<H", head[6:8])[0] * 4
        while length:
            length -= len(c.recv(length))
        return c

    def x_request_answered(self, c):
        c.sendall(struct.pack("<BxH", 43, 1))  # GetInputFocus
        while True:
            packet = b""  # an event (MappingNotify after xdotool's typing), an error or the reply
            while len(packet) < 32:
                chunk = c.recv(32 - len(packet))
                if not chunk:
                    return False
                packet += chunk
            if packet[0] in (0, 1):
                return packet[0] == 1

    def test_desktop_checkpoints_every_second_and_revives_live(self):
        sid = self.record(*DESKTOP, interval="1", display=True)
        self.wait_for(lambda: self.windows(sid) == ["bash", "gtk-app", "xclock"],
                      "the desktop's windows", 30)
        # Session time by which every window was up (the GTK app takes a second or two); the
        # first checkpoint may still be on its way, frozen a moment before.
        self.wait_for(lambda: self.deja_json("checkpoints", sid), "a first checkpoint", 20)
        ready_t = self.deja_json("checkpoints", sid)[-1]["t"] + 2
        host_client = self.connect_from_host(sid)
        self.addCleanup(host_client.close)
        start = time.monotonic()
        time.sleep(20)
        # Use: a second terminal opened from the first one, half way through.
        self.type_into_terminal(sid, "xterm -title second-term -geometry 40x8+700+450 -e sleep 10000 &")
        self.wait_for(lambda: "second-term" in self.windows(sid), "the second terminal", 20)
        second_at = time.monotonic() - start
        time.sleep(max(0.0, 60 - (time.monotonic() - start)))

        checkpoints = self.deja_json("checkpoints", sid)
        recorder_log = os.path.join(self.store, "run", f"{sid}.log")
        with open(recorder_log) as f:
            recorder = f.read()
        self.assertNotIn("checkpoint failed", recorder)
        # One a second from the first (the clock changes the screen every second).
        self.assertGreaterEqual(len(checkpoints), 50, recorder)
        self.assertTrue(self.x_request_answered(host_client), "the host's X connection broke")

        early = next(cp for cp in checkpoints if cp["t"] > ready_t)
        picks = {"early": early, "middle": checkpoints[len(checkpoints) // 2],
                 "latest": checkpoints[-1]}
        for label, cp in picks.items():
            with self.subTest(checkpoint=label):
                branch = self.deja("revive", f"{sid}:{cp['crid']}", "--detach").stdout.strip()
                self.assertRegex(branch, r"^[0-9a-f]{8}$")
                self.sessions.append(branch)
                self.assertEqual(self.x(branch, "xdpyinfo >/dev/null && echo ok").stdout.strip(), "ok")
                expected = ["bash", "gtk-app", "xclock"] + (["second-term"] if cp["t"] > second_at + 1 else [])
                if abs(cp["t"] - second_at) > 1:
                    self.assertEqual(self.windows(branch), sorted(expected))
                self.assertTrue(self.screen_changes(branch), "the clock does not draw in the branch")
                self.assertTrue(self.screen_changes(branch, "-name gtk-app"),
                                "the GTK app does not draw in the branch")
                self.type_into_terminal(branch, f"echo {label} > $HOME/typed-{label}")
                proof = os.path.join(self.home(branch), f"typed-{label}")
                self.wait_for(lambda: os.path.exists(proof), f"{proof} from typing in the branch", 15)
                self.assertFalse(os.path.exists(os.path.join(self.home(sid), f"typed-{label}")))
                # The branch records its own screen: the terminal's top, still for a while now
                # (clear of the pointer the typing left in it), as its screen shows it.
                time.sleep(1.5)
                self.assertTrue(self.recording_shows_screen(branch, (305, 130, 400, 60)),
                                "the branch's recording does not show its terminal")
                self.deja("stop", branch)

        # The original goes on as before.
        self.assertTrue(self.screen_changes(sid))
        self.assertTrue(self.screen_changes(sid, "-name gtk-app"))
        self.type_into_terminal(sid, "echo original > $HOME/typed-original")
        proof = os.path.join(self.home(sid), "typed-original")
        self.wait_for(lambda: os.path.exists(proof), "typing in the original", 15)
