"""gtk_text_window.py FILE: shows FILE read-only in a GTK 3 text view with GTK's default theme
and font, as an ordinary GTK application shows text; the recall benchmark reads it off screen."""

import sys

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import Gtk  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gtk_text_window.py FILE")
    with open(sys.argv[1]) as f:
        text = f.read()
    window = Gtk.Window(title="corpus")
    window.set_default_size(1000, 700)
    window.move(0, 0)
    view = Gtk.TextView(editable=False, cursor_visible=False)
    view.get_buffer().set_text(text)
    window.add(view)
    window.connect("destroy", Gtk.main_quit)
    window.show_all()
    Gtk.main()


main()
