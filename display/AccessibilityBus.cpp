#include "display/AccessibilityBus.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/Error.h"
#include "base/ScopedFd.h"

namespace deja::display {
namespace {

constexpr uint64_t kCallTimeoutUsec = 300'000;
constexpr const char* kAccessible = "org.a11y.atspi.Accessible";
constexpr const char* kText = "org.a11y.atspi.Text";
constexpr const char* kComponent = "org.a11y.atspi.Component";
constexpr uint32_t kCoordScreen = 0;
constexpr int kStateShowing = 25, kStateVisible = 30;  // AtspiStateType

/// The calling thread runs with effective uid `uid` (its own credentials only: the raw
/// system call, not glibc's wrapper, which would change every thread) until this ends.
class ThreadEuid {
 public:
  explicit ThreadEuid(uid_t uid) : saved_(::geteuid()) {
    if (uid != saved_ && ::syscall(SYS_setresuid, -1, uid, -1) != 0)
      throw_errno("setresuid", "uid " + std::to_string(uid));
  }
  ~ThreadEuid() {
    if (::geteuid() != saved_) DEJA_CHECK(::syscall(SYS_setresuid, -1, saved_, -1) == 0);
  }
  ThreadEuid(const ThreadEuid&) = delete;
  ThreadEuid& operator=(const ThreadEuid&) = delete;

 private:
  uid_t saved_;
};

// A message and an error freed on every path.
struct Reply {
  sd_bus_message* m = nullptr;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  ~Reply() {
    sd_bus_message_unref(m);
    sd_bus_error_free(&error);
  }
};

[[noreturn]] void fail(const std::string& what, const AccessibleRef& a, int r,
                       const sd_bus_error* e = nullptr) {
  throw Error("accessibility bus: " + what + " of " + a.bus + " " + a.path + ": " +
              (e && e->message ? e->message : std::strerror(-r)));
}

void check(int r, const std::string& what, const AccessibleRef& a) {
  if (r < 0) fail(what, a, r);
}

}  // namespace

std::optional<std::string> bus_socket_on_host(const std::string& address,
                                              const std::string& session_files) {
  // The first unix:path= of the address (a list of ;-separated addresses, , between keys).
  const std::string key = "unix:path=";
  if (address.rfind(key, 0) != 0) return std::nullopt;
  std::string path = address.substr(key.size());
  path = path.substr(0, path.find_first_of(",;"));
  if (path.find("%") != std::string::npos || path.find("/../") != std::string::npos)
    return std::nullopt;
  auto under = [&](const std::string& dir) { return path.rfind(dir + "/", 0) == 0; };
  if (under("/tmp") || under("/run")) return session_files + path;
  if (under("/var/tmp")) return session_files + "/var-tmp" + path.substr(8);
  // The session's home is /home/USER inside, home/ in its files.
  if (under("/home")) {
    size_t user_end = path.find('/', 6);
    if (user_end == std::string::npos) return std::nullopt;
    return session_files + "/home" + path.substr(user_end);
  }
  return std::nullopt;
}

AccessibilityBus::AccessibilityBus(const std::string& address,
                                   const std::string& session_files) {
  std::optional<std::string> path = bus_socket_on_host(address, session_files);
  if (!path)
    throw Error("accessibility bus address " + address +
                " is not a socket in the session's files; not supported");
  // The session owns every folder on the way: the socket is opened (O_PATH) with no
  // symlink and no ".." from its files' root, so no folder turned into a link leads the
  // recorder to a socket of the host; it is then connected to through that very inode.
  ScopedFd root(::open(session_files.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw_errno("open", session_files);
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const std::string relative = path->substr(session_files.size() + 1);
  ScopedFd sock(static_cast<int>(
      ::syscall(SYS_openat2, root.get(), relative.c_str(), &how, sizeof how)));
  if (!sock) throw_errno("openat2", *path);
  struct stat st {};
  if (::fstat(sock.get(), &st) != 0) throw_errno("fstat", *path);
  if (!S_ISSOCK(st.st_mode)) throw Error(*path + " is not a socket");
  const std::string via = "/proc/self/fd/" + std::to_string(sock.get());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, via.c_str(), via.size() + 1);
  ScopedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket", *path);
  {
    // The bus admits its own user: connect as the host uid that user is, so the bus sees
    // it through the session's user namespace (SO_PEERCRED is taken at connect()).
    ThreadEuid as(st.st_uid);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw_errno("connect", *path);
  }
  int r = sd_bus_new(&bus_);
  if (r < 0) throw_errno("sd_bus_new", *path, -r);
  // sd-bus authenticates with EXTERNAL and no claimed uid: the bus takes the socket's.
  if ((r = sd_bus_set_fd(bus_, fd.get(), fd.get())) >= 0) {
    fd.release();  // the bus owns it now
    if ((r = sd_bus_set_bus_client(bus_, 1)) >= 0 &&
        (r = sd_bus_set_method_call_timeout(bus_, kCallTimeoutUsec)) >= 0)
      r = sd_bus_start(bus_);
  }
  if (r < 0) {
    sd_bus_close_unref(bus_);
    bus_ = nullptr;
    throw_errno("sd_bus_start", *path, -r);
  }
}

AccessibilityBus::~AccessibilityBus() {
  if (bus_) sd_bus_close_unref(bus_);
}

uint32_t AccessibilityBus::pid_of(const std::string& bus) {
  Reply rep;
  const AccessibleRef daemon{"org.freedesktop.DBus", "/org/freedesktop/DBus"};
  int r = sd_bus_call_method(bus_, daemon.bus.c_str(), daemon.path.c_str(), daemon.bus.c_str(),
                             "GetConnectionUnixProcessID", &rep.error, &rep.m, "s", bus.c_str());
  if (r < 0) fail("GetConnectionUnixProcessID " + bus, daemon, r, &rep.error);
  uint32_t pid = 0;
  check(sd_bus_message_read(rep.m, "u", &pid), "GetConnectionUnixProcessID", daemon);
  return pid;
}

std::vector<AccessibleRef> AccessibilityBus::applications() {
  return children({"org.a11y.atspi.Registry", "/org/a11y/atspi/accessible/root"});
}

std::vector<AccessibleRef> AccessibilityBus::children(const AccessibleRef& a) {
  Reply rep;
  int r = sd_bus_call_method(bus_, a.bus.c_str(), a.path.c_str(), kAccessible, "GetChildren",
                             &rep.error, &rep.m, "");
  if (r < 0) fail("GetChildren", a, r, &rep.error);
  check(sd_bus_message_enter_container(rep.m, 'a', "(so)"), "GetChildren", a);
  std::vector<AccessibleRef> out;
  const char *name = nullptr, *path = nullptr;
  while ((r = sd_bus_message_read(rep.m, "(so)", &name, &path)) > 0) out.push_back({name, path});
  check(r, "GetChildren", a);
  return out;
}

std::string AccessibilityBus::name(const AccessibleRef& a) {
  Reply rep;
  char* s = nullptr;
  int r = sd_bus_get_property_string(bus_, a.bus.c_str(), a.path.c_str(), kAccessible, "Name",
                                     &rep.error, &s);
  if (r < 0) fail("Name", a, r, &rep.error);
  std::string out(s ? s : "");
  std::free(s);
  return out;
}

bool AccessibilityBus::showing(const AccessibleRef& a) {
  Reply rep;
  int r = sd_bus_call_method(bus_, a.bus.c_str(), a.path.c_str(), kAccessible, "GetState",
                             &rep.error, &rep.m, "");
  if (r < 0) fail("GetState", a, r, &rep.error);
  check(sd_bus_message_enter_container(rep.m, 'a', "u"), "GetState", a);
  uint32_t first = 0;
  check(sd_bus_message_read(rep.m, "u", &first), "GetState", a);
  return (first >> kStateShowing & 1) && (first >> kStateVisible & 1);
}

std::vector<std::string> AccessibilityBus::interfaces(const AccessibleRef& a) {
  Reply rep;
  int r = sd_bus_call_method(bus_, a.bus.c_str(), a.path.c_str(), kAccessible, "GetInterfaces",
                             &rep.error, &rep.m, "");
  if (r < 0) fail("GetInterfaces", a, r, &rep.error);
  char** strv = nullptr;
  check(sd_bus_message_read_strv(rep.m, &strv), "GetInterfaces", a);
  std::vector<std::string> out;
  for (char** s = strv; s && *s; ++s) {
    out.emplace_back(*s);
    std::free(*s);
  }
  std::free(strv);
  return out;
}

bool AccessibilityBus::has_text(const AccessibleRef& a) {
  std::vector<std::string> i = interfaces(a);
  return std::find(i.begin(), i.end(), kText) != i.end() &&
         std::find(i.begin(), i.end(), kComponent) != i.end();
}

Rect AccessibilityBus::extents(const AccessibleRef& a) {
  Reply rep;
  int r = sd_bus_call_method(bus_, a.bus.c_str(), a.path.c_str(), kComponent, "GetExtents",
                             &rep.error, &rep.m, "u", kCoordScreen);
  if (r < 0) fail("GetExtents", a, r, &rep.error);
  int32_t x = 0, y = 0, w = 0, h = 0;
  check(sd_bus_message_read(rep.m, "(iiii)", &x, &y, &w, &h), "GetExtents", a);
  return {x, y, w, h};
}

int AccessibilityBus::character_count(const AccessibleRef& a) {
  Reply rep;
  int32_t n = 0;
  int r = sd_bus_get_property_trivial(bus_, a.bus.c_str(), a.path.c_str(), kText,
                                      "CharacterCount", &rep.error, 'i', &n);
  if (r < 0) fail("CharacterCount", a, r, &rep.error);
  return n;
}

std::string AccessibilityBus::text(const AccessibleRef& a, int start, int end) {
  Reply rep;
  int r = sd_bus_call_method(bus_, a.bus.c_str(), a.path.c_str(), kText, "GetText", &rep.error,
                             &rep.m, "ii", start, end);
  if (r < 0) fail("GetText", a, r, &rep.error);
  const char* s = nullptr;
  check(sd_bus_message_read(rep.m, "s", &s), "GetText", a);
  return s ? s : "";
}

int AccessibilityBus::offset_at(const AccessibleRef& a, int x, int y) {
  Reply rep;
  int r = sd_bus_call_method(bus_, a.bus.c_str(), a.path.c_str(), kText, "GetOffsetAtPoint",
                             &rep.error, &rep.m, "iiu", x, y, kCoordScreen);
  if (r < 0) fail("GetOffsetAtPoint", a, r, &rep.error);
  int32_t off = -1;
  check(sd_bus_message_read(rep.m, "i", &off), "GetOffsetAtPoint", a);
  return off;
}

Rect AccessibilityBus::range_extents(const AccessibleRef& a, int start, int end) {
  Reply rep;
  int r = sd_bus_call_method(bus_, a.bus.c_str(), a.path.c_str(), kText, "GetRangeExtents",
                             &rep.error, &rep.m, "iiu", start, end, kCoordScreen);
  if (r < 0) fail("GetRangeExtents", a, r, &rep.error);
  int32_t x = 0, y = 0, w = 0, h = 0;
  check(sd_bus_message_read(rep.m, "iiii", &x, &y, &w, &h), "GetRangeExtents", a);
  return {x, y, w, h};
}

}  // namespace deja::display
