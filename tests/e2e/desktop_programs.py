"""The test desktop of the desktop-revive issue, shared by tests/e2e/test_desktop.py and
bench/desktop.py: twm, an xterm running bash, an analog clock drawing every second and a GTK 3
app on its own D-Bus session bus (GTK starts the accessibility bus beside it)."""

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
