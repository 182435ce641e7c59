// What the recorder reads from a session's accessibility bus: each application's top-level
// accessibles (name and extents) and the text of the objects under them, for looking into
// what is (not) indexed. Usage: atspi_text SESSION_FILES ADDRESS (ADDRESS as in the root
// window's AT_SPI_BUS, e.g. unix:path=/home/root/.cache/at-spi/bus_0).
#include <cstdio>
#include <exception>

#include "display/AccessibilityBus.h"

using deja::display::AccessibilityBus;
using deja::display::AccessibleRef;
using deja::display::Rect;

namespace {

void dump(AccessibilityBus& bus, const AccessibleRef& a, int depth) {
  if (depth > 30 || !bus.showing(a)) return;
  if (bus.has_text(a)) {
    Rect r = bus.extents(a);
    std::printf("%*s%d,%d %dx%d: %s\n", depth * 2, "", r.x, r.y, r.w, r.h,
                bus.text(a, 0, -1).c_str());
  }
  for (const AccessibleRef& c : bus.children(a)) dump(bus, c, depth + 1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: atspi_text SESSION_FILES ADDRESS\n");
    return 2;
  }
  try {
    AccessibilityBus bus(argv[2], argv[1]);
    for (const AccessibleRef& app : bus.applications()) {
      std::printf("application %s\n", app.bus.c_str());
      for (const AccessibleRef& frame : bus.children(app)) {
        Rect r = bus.extents(frame);
        std::printf(" frame '%s' %d,%d %dx%d\n", bus.name(frame).c_str(), r.x, r.y, r.w, r.h);
        dump(bus, frame, 1);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atspi_text: %s\n", e.what());
    return 1;
  }
}
