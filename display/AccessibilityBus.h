// A client of a session's accessibility bus (AT-SPI 2 over D-Bus: the bus that
// at-spi-bus-launcher starts beside the first GTK or Qt application and names in the
// AT_SPI_BUS property of the X root window). Applications publish their widgets there as a
// tree of accessible objects, with their text; the recorder reads that text from outside
// the session (docs/recording-format.md, "Text from the accessibility bus").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "display/Rect.h"

struct sd_bus;

namespace deja::display {

/// One accessible object: the bus name of its application and its object path.
struct AccessibleRef {
  std::string bus;
  std::string path;
};

/// One connection to the accessibility bus, made with sd-bus over a socket the recorder
/// connects itself. Every call waits at most a short timeout (a session frozen for a
/// checkpoint answers nothing meanwhile) and throws Error when it fails. Owned by one
/// thread.
class AccessibilityBus {
 public:
  /// `address`: the bus address as the session sees it (AT_SPI_BUS, e.g.
  /// "unix:path=/home/root/.cache/at-spi/bus_0"); `session_files`: the session's
  /// subvolume on the host, where that path is. Connects as the user who owns the bus's
  /// socket (the bus admits its own user). Throws Error naming what failed.
  AccessibilityBus(const std::string& address, const std::string& session_files);
  ~AccessibilityBus();
  AccessibilityBus(const AccessibilityBus&) = delete;
  AccessibilityBus& operator=(const AccessibilityBus&) = delete;

  /// The process (as the session sees it) that holds the bus name `bus`.
  uint32_t pid_of(const std::string& bus);
  /// The applications registered with the registry daemon.
  std::vector<AccessibleRef> applications();
  std::vector<AccessibleRef> children(const AccessibleRef& a);
  std::string name(const AccessibleRef& a);
  /// Whether the object is showing (it and its parents are mapped) and visible.
  bool showing(const AccessibleRef& a);
  bool has_text(const AccessibleRef& a);
  /// Where the object is on the screen.
  Rect extents(const AccessibleRef& a);
  int character_count(const AccessibleRef& a);
  /// Characters [start, end) (end -1: to the end).
  std::string text(const AccessibleRef& a, int start, int end);
  /// The character at screen point (x, y); -1 when none.
  int offset_at(const AccessibleRef& a, int x, int y);
  /// Where characters [start, end) are on the screen.
  Rect range_extents(const AccessibleRef& a, int start, int end);

 private:
  std::vector<std::string> interfaces(const AccessibleRef& a);

  sd_bus* bus_ = nullptr;
};

/// The host path of the unix socket a session's bus address names: a path in the session's
/// home, /tmp, /var/tmp or /run (the session's own files); none for other addresses
/// (abstract sockets live in the session's network namespace, out of reach).
std::optional<std::string> bus_socket_on_host(const std::string& address,
                                              const std::string& session_files);

}  // namespace deja::display
