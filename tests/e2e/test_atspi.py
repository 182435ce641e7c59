"""Text from the accessibility bus through the real deja: a GTK 3 application in a recorded
session (on its own D-Bus session bus, with the accessibility bus GTK starts) shows words in
a label too small and pale for OCR and in a text view; `deja search` finds them with source
"atspi" and their window, and a line OCR reads too as one hit with both sources; a window excluded by title is never read, nor from the bus is the
other window of its program; checkpoints of the
session succeed while the recorder is connected to its accessibility bus, and a branch
revived from one has its text read by its own recorder."""

import os
import random
import shutil
import unittest
import string

from harness import StoreTestCase

GEOMETRY = "1024x600"

# Two programs on one D-Bus session: one shows the recorded window; the other (forked) shows
# a window excluded by its title and a recorded one. Word tokens are filled in.
GTK_APP = """
import os
private = os.fork() == 0
import gi
gi.require_version("Gtk", "3.0")
from gi.repository import Gtk
def window(title, x, y, label_word, text_word):
    w = Gtk.Window(title=title)
    w.set_default_size(360, 160)
    w.move(x, y)
    box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL)
    label = Gtk.Label()
    label.set_markup("<span size=\\"3000\\" foreground=\\"#eeeeee\\">" + label_word + "</span>")
    box.add(label)
    view = Gtk.TextView()
    view.get_buffer().set_text("first line\\nthe " + text_word + " line")
    box.add(view)
    w.add(box)
    w.show_all()
if private:
    window("atspi private", 520, 40, "LABEL2", "TEXT2")
    window("atspi beside", 520, 300, "LABEL3", "TEXT3")
else:
    window("atspi shown", 20, 40, "LABEL1", "TEXT1")
Gtk.main()
"""


def token():
    """A random word no dictionary holds, so only this run's screen can hold it."""
    return "zq" + "".join(random.choice(string.ascii_lowercase) for _ in range(8))


class AtspiTest(StoreTestCase):
    def record_app(self, words):
        app = GTK_APP
        for k, v in words.items():
            app = app.replace(k, v)
        script = f"exec dbus-run-session -- /usr/bin/python3 -c '{app}'"
        sid = self.deja("record", "--detach", "--geometry", GEOMETRY, "--interval", "1",
                        "--exclude-title", "*private*", "--", "sh", "-c", script).stdout.strip()
        self.assertRegex(sid, r"^[0-9a-f]{8}$")
        self.sessions.append(sid)
        return sid

    def hits(self, sid, word):
        return [h for h in self.deja_json("search", word, "--session", sid) if word in h["text"]]

    def test_accessible_text_is_found_and_excluded_windows_are_not_read(self):
        self.init()
        words = {k: token() for k in ("LABEL1", "TEXT1", "LABEL2", "TEXT2", "LABEL3", "TEXT3")}
        sid = self.record_app(words)
        found = {}

        def indexed():
            for k in ("LABEL1", "TEXT1"):
                for h in self.hits(sid, words[k]):
                    if h["source"] == "atspi":
                        found[k] = h
            return len(found) == 2

        self.wait_for(indexed, "the shown window's words from the accessibility bus", timeout=60)
        for k, h in found.items():
            self.assertEqual(h["window"], "atspi shown", h)
            self.assertIsNotNone(h["app"], h)
            self.assertIsNone(h["last_seen"], h)  # still on screen
        self.assertEqual(found["TEXT1"]["text"], f"the {words['TEXT1']} line")
        self.assertEqual(found["LABEL1"]["text"], words["LABEL1"])
        # The label's box is where the label is: inside the window, left part of the screen.
        self.assertLess(found["LABEL1"]["x"], 520)
        # The text output says where a hit came from.
        out = self.deja("search", words["TEXT1"], "--session", sid).stdout
        self.assertIn("atspi", out)
        self.assertIn("atspi shown", out)
        # A line both OCR and the bus read is one hit: the bus's text, both sources.
        def shown_first_line():
            return [h for h in self.deja_json("search", '"first line"', "--session", sid)
                    if h["window"] == "atspi shown"]

        self.wait_for(lambda: any(h["sources"] == ["atspi", "ocr"] for h in shown_first_line()),
                      "OCR and the bus to read the same line", timeout=60)
        hits = shown_first_line()
        self.assertEqual(len(hits), 1, hits)
        self.assertEqual((hits[0]["text"], hits[0]["source"]), ("first line", "atspi"), hits)
        self.assertIn("atspi+ocr", self.deja("search", '"first line"', "--session", sid).stdout)
        # Checkpoints succeed with the recorder's connection to the accessibility bus open.
        for _ in range(3):
            self.deja("checkpoint", sid)
        # A branch revived from the last one (the recorder's connection there comes back
        # closed) runs the application and its bus again, and its own recorder reads them.
        branch = self.deja("revive", sid, "--detach").stdout.strip()
        self.sessions.append(branch)
        self.wait_for(lambda: any(h["source"] == "atspi" for h in self.hits(branch, words["TEXT1"])),
                      "the branch's recorder to read the revived application", timeout=60)
        # The excluded window's words were never stored, by either way of reading; the
        # other window of its program is not read from the bus either (OCR may read it).
        for k in ("LABEL2", "TEXT2"):
            self.assertEqual(self.hits(sid, words[k]), [], k)
        for k in ("LABEL3", "TEXT3"):
            self.assertEqual([h for h in self.hits(sid, words[k]) if h["source"] == "atspi"], [], k)
        self.assertTrue(self.catalog(
            "SELECT count(*) FROM display_windows WHERE session = ? AND title = 'atspi beside'",
            sid)[0][0] > 0)  # it is recorded
        self.assertEqual(self.catalog(
            "SELECT count(*) FROM display_windows WHERE session = ? AND title LIKE '%private%'",
            sid), [(0,)])
        for s in (sid, branch):
            with open(os.path.join(self.store, "run", f"{s}.log")) as f:
                log = f.read()
            self.assertNotIn("checkpoint failed", log)
            self.assertNotIn("accessible text", log)  # no error reading the bus
        # Once stopped, every line has its end.
        self.deja("stop", sid)
        self.assertEqual(self.catalog(
            "SELECT count(*) FROM display_text WHERE session = ? AND source = 'atspi' "
            "AND last_ms IS NULL", sid), [(0,)])

    def test_qt_text_is_read_from_the_bus(self):
        """A Qt 6 window joins the session's accessibility bus (the session's environment
        switches Qt's bridge on) and its text is found with source atspi."""
        qt_text = os.environ.get("DEJA_QT_TEXT", "")
        self.assertTrue(qt_text, "DEJA_QT_TEXT must name deja-bench-qt-text")
        self.init()
        word = token()
        # The program and its text are put in the session's home once it runs. Something
        # starts the bus first, as a GTK application or a desktop does (Qt never does), here
        # while no other X client may be connected (the recorder's own connection can come
        # seconds later): the launcher's AT_SPI_BUS on the root window must outlive its
        # connection, so the session's Xvfb must not reset when its last client leaves.
        script = ("while [ ! -x ~/qt ]; do sleep 0.05; done; exec dbus-run-session -- sh -c "
                  "'dbus-send --session --print-reply --dest=org.a11y.Bus /org/a11y/bus "
                  "org.a11y.Bus.GetAddress >/dev/null; exec ~/qt ~/qt.txt'")
        sid = self.deja("record", "--detach", "--geometry", GEOMETRY, "--interval", "0",
                        "--", "sh", "-c", script).stdout.strip()
        self.sessions.append(sid)
        home = os.path.join(self.store, "fs", "sessions", sid, "home")
        with open(os.path.join(home, "qt.txt"), "w") as f:
            f.write(f"the {word} line\n")
        shutil.copy(qt_text, os.path.join(home, ".qt"))
        os.rename(os.path.join(home, ".qt"), os.path.join(home, "qt"))
        self.wait_for(lambda: any(h["source"] == "atspi" for h in self.hits(sid, word)),
                      "the Qt window's text from the accessibility bus", timeout=60)
        hit = next(h for h in self.hits(sid, word) if h["source"] == "atspi")
        self.assertEqual(hit["text"], f"the {word} line", hit)
        self.assertIsNotNone(hit["window"], hit)


if __name__ == "__main__":
    unittest.main()
