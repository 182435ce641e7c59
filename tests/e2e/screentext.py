"""The text of a recorded frame as plain Tesseract reads it, and whether it shows a word.

The frames are x264-compressed pictures of a screen, and Tesseract misreads a letter of them
now and then ("hsunhec" for "hsunhcc", one run of many). A test of which moment a frame shows
asks whether the word is there give or take one letter: its words are random strings that
differ from each other in most letters, so one letter of slack never mistakes one for the
other, and it keeps the test about the frame rather than about Tesseract."""

import subprocess


def read_png(png):
    """What Tesseract reads in the picture, lower case, without spaces (a monospace word is
    sometimes split in two)."""
    out = subprocess.run(["tesseract", png, "-", "--psm", "6"], capture_output=True, text=True,
                         check=True).stdout
    return out.replace(" ", "").lower()


def edits_to_nearest(word, text):
    """The fewest letters to insert, delete or change to turn some part of `text` into `word`
    (Sellers' approximate matching: the match may start anywhere in `text`)."""
    previous = [0] * (len(text) + 1)  # an empty word matches before any letter at no cost
    for i, letter in enumerate(word, 1):
        current = [i] + [0] * len(text)
        for j, seen in enumerate(text, 1):
            current[j] = min(previous[j - 1] + (letter != seen),  # change (or keep)
                             previous[j] + 1,                       # the word's letter missing
                             current[j - 1] + 1)                    # an extra letter read
        previous = current
    return min(previous)


def shows(text, word):
    """Whether `text` holds `word` give or take one letter."""
    return edits_to_nearest(word, text) <= 1
