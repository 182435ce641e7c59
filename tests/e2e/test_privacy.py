"""Privacy through the real deja: windows excluded by application (WM_CLASS) or title are
black in every recorded frame, their text is never found and their names are not recorded,
while the other windows are recorded as usual (a window moving or appearing mid-segment
included, and the exclusions kept by a recorder that re-attaches and by a revived branch);
and unprivileged users of a group recording through the service, reaching only their own
sessions."""

import grp
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import fusefs
from harness import DEJA, StoreTestCase, running, session_cgroup
from pngpixels import read_rgb

GEOMETRY = "640x400"
RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def random_words(n):
    with open("/usr/share/dict/words") as f:
        words = [w for w in f.read().split() if 6 <= len(w) <= 9 and re.fullmatch("[a-z]+", w)]
    return random.sample(words, n)


def xterm(colour, place, text, *extra):
    """An xterm of a given background showing `text` (big enough for Tesseract)."""
    return (f"xterm -fa 'DejaVu Sans Mono' -fs 14 -bg '{colour}' -fg black "
            f"-geometry 22x3{place} {' '.join(extra)} -e sh -c 'echo {text}; sleep 600' &")


def near(pixel, colour, tolerance=60):
    return all(abs(p - c) < tolerance for p, c in zip(pixel, colour))


def pixels(png):
    width, height, rows = read_rgb(png)
    return width, height, rows


def count_colour(rows, colour):
    n = 0
    for row in rows:
        for x in range(0, len(row), 3):
            if near(row[x:x + 3], colour):
                n += 1
    return n


class ExclusionTestCase(StoreTestCase):
    def setUp(self):
        super().setUp()
        self.init()

    def record_script(self, script, *flags, interval="0"):
        sid = self.deja("record", "--detach", "--geometry", GEOMETRY, "--interval", interval,
                        *flags, "--", "sh", "-c", script).stdout.strip()
        self.assertRegex(sid, r"^[0-9a-f]{8}$")
        self.sessions.append(sid)
        return sid

    def frame(self, sid, t, name="frame.png"):
        png = os.path.join(self.dir, name)
        self.deja("frame", f"{sid}@{t:.3f}", "-o", png)
        return pixels(png)

    def frame_times(self, sid):
        """Every recorded frame's time in seconds since the session started (its segments
        must be complete: stopped or paused)."""
        started = self.started(sid)
        rows = self.catalog(
            "SELECT s.start_ms + f.pts_ms FROM display_frames f JOIN display_segments s "
            "ON f.segment = s.id WHERE s.session = ? ORDER BY 1", sid)
        return [ms / 1000.0 - started for (ms,) in rows]

    def started(self, sid):
        return self.catalog("SELECT started FROM sessions WHERE id = ?", sid)[0][0]

    def found(self, word, sid=None):
        where = ["--session", sid] if sid else []
        return [h for h in self.deja_json("search", word, *where)
                if word in h["text"].lower().replace(" ", "")]

    def wait_found(self, word, sid, timeout=60):
        self.wait_for(lambda: self.found(word, sid), f"'{word}' to be read in {sid}", timeout)

    def window_box(self, sid, title):
        """(x, y, w, h) of the window named `title` in the session, border included, as the
        session's X server has it."""
        out = self.deja("exec", sid, "--", "env", "DISPLAY=:0", "xwininfo", "-name",
                        title).stdout
        get = lambda key: int(re.search(key + r":\s+(-?\d+)", out).group(1))
        border = get("Border width")
        return (get("Absolute upper-left X") - border, get("Absolute upper-left Y") - border,
                get("Width") + 2 * border, get("Height") + 2 * border)

    def assert_black(self, rows, box):
        x0, y0, w, h = box
        inside = [rows[y][x * 3:x * 3 + 3] for y in range(max(y0, 0) + 2, y0 + h - 2)
                  for x in range(max(x0, 0) + 2, x0 + w - 2)]
        black = sum(1 for p in inside if near(p, (0, 0, 0), 40))
        self.assertGreater(len(inside), 1000)
        self.assertGreaterEqual(black, 0.99 * len(inside), f"{box} is not black")


class ExclusionTest(ExclusionTestCase):
    def test_excluded_windows_are_black_and_unread_as_they_move_and_appear(self):
        secret, private, shown, late = random_words(4)
        script = (
            xterm("#ff0000", "+10+10", secret, "-class", "Secretapp") +
            xterm("#0000ff", "+10+200", private, "-title", "'my private notes'") +
            xterm("#00ff00", "+400+330", shown, "-title", "visible") +
            # Mid-segment (a segment lasts 60 s): the private window moves, a second window
            # of the excluded application appears.
            "sleep 8; date +moved%s.%N; "
            "xdotool search --name 'my private notes' windowmove 300 250; "
            "sleep 3; date +appeared%s.%N; " +
            xterm("#ff0000", "+150+120", late, "-class", "Secretapp") + "sleep 600")
        sid = self.record_script(script, "--exclude-app", "secret*",
                                 "--exclude-title", "*PRIVATE*")
        self.wait_found(shown, sid)
        self.wait_for(lambda: "appeared" in self.deja("logs", sid).stdout,
                      "the late window to be started", 30)
        # Give the late window time to draw, and recognition time to read it if it would.
        time.sleep(4)
        moved_box = self.window_box(sid, "my private notes")
        # Where xdotool put it (give or take its border).
        self.assertLessEqual(abs(moved_box[0] - 300) + abs(moved_box[1] - 250), 4, moved_box)
        self.deja("stop", sid)

        for word in (secret, private, late):
            self.assertEqual(self.found(word), [], f"'{word}' of an excluded window was read")
        self.assertTrue(self.found(shown, sid))
        names = self.catalog("SELECT app, instance, title FROM display_windows WHERE session = ?",
                             sid)
        self.assertIn("visible", [t for _, _, t in names])
        for app, instance, title in names:
            self.assertNotIn("secret", (app + instance).lower())
            self.assertNotIn("private", title.lower())

        # Every frame: nothing of the excluded windows' colours, the other window there.
        times = self.frame_times(sid)
        # At least the first screen, the move and the late window (a still screen adds none).
        self.assertGreaterEqual(len(times), 3)
        log = self.deja("logs", sid).stdout
        started = self.started(sid)
        moved = float(re.search(r"moved(\d+\.\d+)", log).group(1)) - started
        for i, t in enumerate(times):
            _, _, rows = self.frame(sid, t + 0.001)
            self.assertEqual(count_colour(rows, RED), 0, f"red (excluded app) at @{t:.3f}")
            self.assertEqual(count_colour(rows, BLUE), 0, f"blue (excluded title) at @{t:.3f}")
            if i == len(times) - 1:
                self.assertGreater(count_colour(rows, GREEN), 2000)
                self.assert_black(rows, moved_box)
        # The moved window's new place is black from the first frame after the move on.
        after_move = [t for t in times if t > moved + 0.5]
        self.assertTrue(after_move)
        _, _, rows = self.frame(sid, after_move[0] + 0.001)
        self.assert_black(rows, moved_box)

    def test_rm_removes_a_session_with_windows_and_exclusions(self):
        sid = self.record_script("xterm -e sleep 600", "--exclude-app", "nothing")
        self.wait_for(lambda: self.catalog("SELECT count(*) FROM display_windows "
                                           "WHERE session = ?", sid)[0][0] > 0,
                      "the xterm's window row", 30)
        self.deja("stop", sid)
        self.deja("rm", sid)  # failed on display_windows' foreign key before
        for table in ("display_windows", "display_focus", "window_exclusions"):
            self.assertEqual(self.catalog(f"SELECT count(*) FROM {table} WHERE session = ?",
                                          sid), [(0,)])

    def test_exclusions_need_a_display_and_a_pattern(self):
        p = self.deja("record", "--detach", "--no-display", "--exclude-app", "x", "--",
                      "true", check=False)
        self.assert_one_line_error(p, "--no-display")
        p = self.deja("record", "--detach", "--exclude-title", "", "--", "true", check=False)
        self.assert_one_line_error(p, "--exclude-title needs a pattern")


class ExclusionKeptTest(ExclusionTestCase):
    def test_a_new_recorder_and_a_branch_keep_the_exclusions(self):
        secret, shown = random_words(2)
        sid = self.record_script(
            xterm("#ff0000", "+10+10", secret, "-class", "Secretapp") +
            xterm("#00ff00", "+400+330", shown, "-title", "visible") + "sleep 600",
            "--exclude-app", "SecretApp")
        self.wait_found(shown, sid)
        crid = self.deja("checkpoint", sid).stdout.strip()
        pid = self.catalog("SELECT supervisor_pid FROM sessions WHERE id = ?", sid)[0][0]
        os.kill(pid, signal.SIGKILL)
        self.wait_for(lambda: not running(pid), f"recorder {pid} to die")
        attached = time.time()
        self.deja("attach", sid, "--detach")
        branch = self.deja("revive", f"{sid}:{crid}", "--detach", "--interval", "0").stdout.strip()
        self.sessions.append(branch)
        self.wait_found(shown, branch)
        self.deja("stop", branch)
        self.deja("stop", sid)
        started = self.started(sid)
        after = [t for t in self.frame_times(sid) if t > attached - started]
        self.assertTrue(after, "no frame recorded by the new recorder")
        for session, t in [(sid, after[0]), (branch, self.frame_times(branch)[-1])]:
            _, _, rows = self.frame(session, t + 0.001)
            self.assertEqual(count_colour(rows, RED), 0, f"red in {session}@{t:.3f}")
            self.assertGreater(count_colour(rows, GREEN), 2000)
        self.assertEqual(self.found(secret), [])
        self.assertEqual(self.catalog("SELECT kind, pattern FROM window_exclusions "
                                      "WHERE session = ?", branch), [("app", "SecretApp")])


class ServiceUsersTest(StoreTestCase):
    """Unprivileged users of a group record through `deja daemon --users GROUP`: real uids
    (setpriv), a real group made for the test and removed after it."""

    USER, OTHER, OUTSIDER = 65534, 65533, 65532

    def setUp(self):
        super().setUp()
        self.init()
        self.group = f"dejat{os.getpid() % 100000}"
        subprocess.run(["groupadd", self.group], check=True)
        self.addCleanup(subprocess.run, ["groupdel", self.group], check=True)
        self.gid = grp.getgrnam(self.group).gr_gid
        sockdir = tempfile.mkdtemp(prefix="deja-svc-")
        os.chmod(sockdir, 0o755)
        self.addCleanup(shutil.rmtree, sockdir, ignore_errors=True)
        self.socket = os.path.join(sockdir, "service.sock")
        log = open(os.path.join(self.dir, "daemon.log"), "w")
        daemon = subprocess.Popen([DEJA, "--store", self.store, "daemon", "--scan", "0.5",
                                   "--users", self.group, "--socket", self.socket],
                                  stdout=log, stderr=log)
        log.close()

        def stop():
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
        self.addCleanup(stop)  # before the store's cleanup (LIFO)
        self.wait_for(lambda: os.path.exists(self.socket), "the service socket", 10)

    def as_user(self, uid, *args, in_group=True, check=True, caps=()):
        groups = ["--groups", str(self.gid)] if in_group else ["--clear-groups"]
        for cap in caps:
            groups += [f"--inh-caps=+{cap}", f"--ambient-caps=+{cap}"]
        env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "DEJA_SERVICE": self.socket}
        p = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", *groups, DEJA, *args],
                           capture_output=True, text=True, timeout=120, env=env)
        if check and p.returncode != 0:
            self.fail(f"deja {' '.join(args)} as {uid} exited {p.returncode}: {p.stderr}")
        return p

    def listed(self, uid):
        return [s["id"] for s in json.loads(self.as_user(uid, "sessions", "--json").stdout)]

    def test_users_record_and_reach_only_their_own_sessions(self):
        st = os.stat(self.socket)
        self.assertEqual((st.st_mode & 0o777, st.st_uid, st.st_gid), (0o660, 0, self.gid))
        roots = self.record("sleep", "1000")
        mine = self.as_user(self.USER, "record", "--no-display", "--interval", "0",
                            "--name", "mine", "--", "sleep", "1000").stdout.strip()
        self.assertRegex(mine, r"^[0-9a-f]{8}$")
        self.sessions.append(mine)
        self.assertEqual(self.listed(self.USER), [mine])
        self.assertEqual(self.listed(self.OTHER), [])
        self.assertEqual(self.session(mine)["owner"], self.USER)
        self.assertIsNone(self.session(roots)["owner"])
        # The user's session runs in a user namespace: no process of it is root on the host.
        with open(os.path.join(session_cgroup(mine), "cgroup.procs")) as f:
            pids = f.read().split()
        self.assertTrue(pids)
        for pid in pids:
            with open(f"/proc/{pid}/status") as f:
                uid = next(l for l in f if l.startswith("Uid:")).split()[1]
            self.assertNotEqual(uid, "0", f"process {pid} of {mine} is root on the host")

        # Someone else's session, root's, and one that does not exist read the same.
        for who, sid in [(self.OTHER, mine), (self.USER, roots), (self.USER, "00000000")]:
            p = self.as_user(who, "stop", sid, check=False)
            self.assert_one_line_error(p, f"you have no session {sid}")
        p = self.as_user(self.USER, "--service", self.socket, "gc", check=False)
        self.assert_one_line_error(p, "'gc' is not offered")
        p = self.as_user(self.USER, "record", "--owner", "0", "--", "true", check=False)
        self.assert_one_line_error(p, "--owner", "not offered")
        # Outside the group: the socket's mode keeps the user out; and one who gets past it
        # (CAP_DAC_OVERRIDE) is refused by the credentials the kernel gives the daemon.
        p = self.as_user(self.OUTSIDER, "sessions", in_group=False, check=False)
        self.assert_one_line_error(p, "Permission denied")
        p = self.as_user(self.OUTSIDER, "sessions", in_group=False, check=False,
                         caps=("dac_override",))
        self.assert_one_line_error(p, f"user {self.OUTSIDER} is not in the group")

        self.as_user(self.USER, "pause", mine)
        self.assertEqual(self.session(mine)["state"], "paused")
        self.as_user(self.USER, "resume", mine)
        self.assertEqual(self.session(mine)["state"], "recording")
        self.as_user(self.USER, "stop", mine)
        self.assertEqual(self.session(mine)["state"], "stopped")
        self.assertEqual(self.session(roots)["state"], "recording")
        # The exit status is the command's: a session that is no longer running.
        p = self.as_user(self.USER, "pause", mine, check=False)
        self.assert_one_line_error(p, mine)


COUNTER = ("import time\nf = open('{path}')\nf.read()\nprint('ready', flush=True)\ni = 0\n"
           "while True:\n    i += 1\n    open('/tmp/n', 'w').write(str(i))\n    time.sleep(0.05)")


class FuseTest(StoreTestCase):
    """A session holding a file open on a FUSE file system whose server stops answering
    (fusefs.py: a real FUSE mount served by this test through /dev/fuse). The session's
    own /dev has no fuse node, so its server runs outside it: here on the host, under /opt,
    which sessions see read-only."""

    def setUp(self):
        super().setUp()
        self.init()
        self.mnt = tempfile.mkdtemp(prefix="deja-fuse-", dir="/opt")
        self.addCleanup(os.rmdir, self.mnt)
        self.fs = fusefs.FuseFile(self.mnt)
        self.addCleanup(self.fs.close)  # runs before the store's cleanup: the stop can end

    def count(self, sid):
        path = os.path.join(self.store, "fs", "sessions", sid, "tmp", "n")
        try:
            return int(open(path).read() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def test_a_stuck_fuse_server_does_not_hold_the_session(self):
        sid = self.record("python3", "-c", COUNTER.format(path=self.mnt + "/file"))
        self.wait_for(lambda: "ready" in self.deja("logs", sid).stdout, "the file to be open", 30)
        # The capture decides from /proc alone that the file is on FUSE and refuses it by name,
        # before anything asks the server: a stuck server cannot hold the session.
        self.fs.hang()
        self.addCleanup(self.fs.answer)
        checkpoint = subprocess.run([DEJA, "--store", self.store, "checkpoint", sid],
                                    capture_output=True, text=True, timeout=60)
        self.assertNotEqual(checkpoint.returncode, 0, checkpoint.stdout)
        self.assertIn("FUSE", checkpoint.stderr)
        self.assertIn(self.mnt + "/file", checkpoint.stderr)
        before = self.count(sid)
        time.sleep(1)
        self.assertGreater(self.count(sid), before, "the session's program is held after the "
                           "refused checkpoint")
