"""The display end to end through `deja record`: the session's own Xvfb, an xterm printing a
random word, `deja search` finding it in that session at the right time, and `deja frame` at
that time giving a picture in which Tesseract reads the word back."""

import os
import random
import sqlite3
import subprocess
import time

from harness import StoreTestCase


# Letters Tesseract reads reliably in DejaVu Sans Mono at 14 pt after the recorder's
# clean-up: i/l, o, v/w (doubled) and the round-bowled b, d, g, p, q (whose bowls the
# cursor eraser can take for a hollow cursor; see the note on issue 5) are left out,
# so the test is about the recording pipeline, not OCR luck.
LETTERS = "acefhjkmnrstuxyz"


def random_word():
    return "".join(random.choice(LETTERS) for _ in range(7))


class DisplayTest(StoreTestCase):
    def test_word_on_screen_is_found_and_shown(self):
        self.init()
        word = random_word()
        before = time.time()
        sid = self.record("xterm", "-fa", "DejaVu Sans Mono", "-fs", "14", "-geometry", "60x8+0+0",
                          "-e", "sh", "-c",
                          f"sleep 1; echo {word}; sleep 600", display=True)
        hits = []

        def found():
            hits[:] = [h for h in self.deja_json("search", word, "--session", sid)
                       if word in h["text"]]
            return bool(hits)

        try:
            self.wait_for(found, f"'{word}' to be indexed", timeout=60)
        except AssertionError:
            # What the recorder said and what it did read, for whoever looks at the failure.
            log_path = os.path.join(self.store, "run", f"{sid}.log")
            log = open(log_path).read() if os.path.exists(log_path) else "(no recorder log)"
            db = sqlite3.connect(os.path.join(self.store, "catalog.db"))
            texts = [t for (t,) in db.execute(
                "SELECT f.text FROM display_text_fts f JOIN display_text t ON t.id = f.rowid "
                "WHERE t.session = ? LIMIT 20", (sid,))]
            db.close()
            self.fail(f"'{word}' not indexed in 60 s; recorder log:\n{log}\ntexts read: {texts}")
        hit = hits[0]
        self.assertEqual(hit["session"], sid)
        self.assertGreater(hit["t"], 0.5)
        self.assertLess(hit["t"], time.time() - before + 1)
        # A finished segment is what frames are read from: stop ends it cleanly.
        self.deja("stop", sid)
        png = os.path.join(self.dir, "frame.png")
        self.deja("frame", f"{sid}@{hit['t'] + 0.5:.3f}", "-o", png)
        ocr = subprocess.run(["tesseract", png, "-", "--psm", "6"], capture_output=True,
                             text=True)
        self.assertIn(word, ocr.stdout.replace(" ", ""))
        # Before the word was printed, the frame does not show it.
        self.deja("frame", f"{sid}@{max(hit['t'] - 0.8, 0.05):.3f}", "-o", png)
        early = subprocess.run(["tesseract", png, "-", "--psm", "6"], capture_output=True,
                               text=True)
        self.assertNotIn(word, early.stdout.replace(" ", ""))
