"""flash_window.py: a GTK 3 window that turns black and white in turn as fast as GTK draws.
GTK paints each frame off screen and puts it on the window in one X request, so the X
server's framebuffer never holds the window half one colour: a recorded frame that does was
copied from two moments."""

import warnings

import gi

gi.require_version("Gdk", "3.0")
gi.require_version("Gtk", "3.0")
# override_background_color is deprecated for themes, and the simplest whole-window paint.
warnings.simplefilter("ignore", DeprecationWarning)
from gi.repository import Gdk, GLib, Gtk  # noqa: E402

BLACK, WHITE = Gdk.RGBA(0, 0, 0, 1), Gdk.RGBA(1, 1, 1, 1)
state = {"dark": False}


def flip(window):
    state["dark"] = not state["dark"]
    window.override_background_color(Gtk.StateFlags.NORMAL, BLACK if state["dark"] else WHITE)
    return True


window = Gtk.Window(title="flash")
window.set_default_size(1280, 800)
window.move(0, 0)
window.connect("destroy", Gtk.main_quit)
window.show_all()
GLib.timeout_add(5, flip, window)
Gtk.main()
