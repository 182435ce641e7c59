// Window context without an X server: which window a line is in, the catalog rows of
// windows and focus, search filters by application and window, and a catalog of schema
// version 4 (before windows) migrated with its text still found.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "TestSupport.h"
#include "base/Error.h"
#include "base/ScopedFd.h"
#include "db/Catalog.h"
#include "db/Database.h"
#include "db/Migrations.h"
#include "display/AccessibilityBus.h"
#include "display/AccessibleText.h"
#include "display/DisplayIndex.h"
#include "display/WindowHistory.h"

namespace deja::display {
namespace {

TEST(WindowAt, TopmostWindowHoldingTheMiddleOfTheLine) {
  std::vector<WindowArea> areas = {{1, {0, 0, 400, 300}}, {2, {200, 100, 400, 300}}};
  EXPECT_EQ(window_at(areas, {10, 10, 100, 13}), 1);
  EXPECT_EQ(window_at(areas, {250, 150, 100, 13}), 2);  // 2 is above 1
  // A line sticking out of a window still counts as in it if its middle is.
  EXPECT_EQ(window_at(areas, {350, 290, 100, 13}), 2);
  EXPECT_EQ(window_at(areas, {700, 450, 50, 13}), std::nullopt);
  EXPECT_EQ(window_at({}, {0, 0, 10, 10}), std::nullopt);
}

TextLine line(const std::string& text, Rect box) {
  TextLine l;
  l.text = text;
  l.box = box;
  l.confidence = 90;
  return l;
}

std::vector<std::string> texts(const std::vector<TextHit>& hits) {
  std::vector<std::string> out;
  for (const TextHit& h : hits) out.push_back(h.text);
  return out;
}

TEST(WindowIndex, SearchFiltersByApplicationAndTitle) {
  test::TempDir dir;
  const std::string catalog = dir.path() + "/catalog.db";
  test::add_session(catalog, "s1");
  DisplayIndex index(catalog);
  WindowInfo term{0x200001, "XTerm", "xterm", "build log", {}};
  WindowInfo editor{0x400001, "Emacs", "emacs", "notes.org - GNU Emacs", {}};
  std::vector<int64_t> ids = index.update_windows("s1", {}, {term, editor}, 1000);
  ASSERT_EQ(ids.size(), 2u);
  index.update_text(
      "s1", {}, 0,
      {line("compiler warning one", {0, 0, 100, 13}), line("compiler notes two", {0, 20, 100, 13}),
       line("compiler desktop three", {0, 40, 100, 13})},
      2000, {ids[0], ids[1], std::nullopt});
  TextQuery q;
  q.text = "compiler";
  EXPECT_EQ(index.search(q).size(), 3u);
  q.app = "xterm";  // the instance
  EXPECT_EQ(texts(index.search(q)), std::vector<std::string>{"compiler warning one"});
  q.app = "EMACS";  // the class, any case
  EXPECT_EQ(texts(index.search(q)), std::vector<std::string>{"compiler notes two"});
  q.app = "emac";  // an application is named whole
  EXPECT_TRUE(index.search(q).empty());
  q.app = "";
  q.window = "NOTES.ORG";
  std::vector<TextHit> hits = index.search(q);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].app, "Emacs");
  EXPECT_EQ(hits[0].window, "notes.org - GNU Emacs");
  q.window = "";
  q.text = "desktop";
  hits = index.search(q);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_FALSE(hits[0].app);  // outside every window
  EXPECT_FALSE(hits[0].window);

  // Focus: one row at a time, each closed when the next begins.
  index.set_focus("s1", ids[0], 1500);
  index.set_focus("s1", ids[1], 2500);
  index.set_focus("s1", std::nullopt, 3500);
  db::Statement st(index.catalog().database(),
                   "SELECT window, first_ms, last_ms FROM display_focus ORDER BY first_ms");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.int64(0), ids[0]);
  EXPECT_EQ(st.int64(2), 2500);
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.int64(0), ids[1]);
  EXPECT_EQ(st.int64(2), 3500);
  EXPECT_FALSE(st.step());
}

TEST(WindowIndex, CatalogOfVersion4IsMigratedAndItsTextFound) {
  test::TempDir dir;
  const std::string catalog = dir.path() + "/catalog.db";
  {
    db::Database old(catalog);
    for (size_t v = 0; v < 4; ++v) old.exec(db::migrations()[v]);
    old.exec("PRAGMA application_id = " + std::to_string(db::kApplicationId));
    old.exec("PRAGMA user_version = 4");
    old.exec(
        "INSERT INTO sessions (id, name, state, started, command, home) "
        "VALUES ('old1', 'old', 'stopped', 100, '[]', '/')");
    old.exec(
        "INSERT INTO display_text (id, session, first_ms, last_ms, x, y, w, h, confidence) "
        "VALUES (1, 'old1', 100000, 101000, 1, 2, 3, 4, 90)");
    old.exec("INSERT INTO display_text_fts (rowid, text, joined) VALUES (1, 'hello old', '')");
  }
  DisplayIndex index(catalog);
  EXPECT_EQ(index.catalog().database().pragma_int("user_version"), db::Catalog::schema_version());
  std::vector<TextHit> hits = index.search("hello", "", 10);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_FALSE(hits[0].app);  // recorded before windows were
  EXPECT_EQ(hits[0].source, "ocr");  // version 7: lines stored before were OCR's
  TextQuery q;
  q.text = "hello";
  q.app = "xterm";
  EXPECT_TRUE(index.search(q).empty());
}

TEST(AccessibleText, BusSocketsAreFoundInTheSessionsFilesOnly) {
  const std::string files = "/store/fs/sessions/ab12";
  EXPECT_EQ(bus_socket_on_host("unix:path=/home/root/.cache/at-spi/bus_0", files),
            files + "/home/.cache/at-spi/bus_0");
  EXPECT_EQ(bus_socket_on_host("unix:path=/run/user/1000/at-spi/bus,guid=1234", files),
            files + "/run/user/1000/at-spi/bus");
  EXPECT_EQ(bus_socket_on_host("unix:path=/var/tmp/bus;unix:path=/tmp/other", files),
            files + "/var-tmp/bus");
  EXPECT_FALSE(bus_socket_on_host("unix:abstract=/tmp/dbus-xyz,guid=1", files));
  EXPECT_FALSE(bus_socket_on_host("unix:path=/etc/bus", files));
  EXPECT_FALSE(bus_socket_on_host("unix:path=/tmp/../etc/bus", files));
  EXPECT_FALSE(bus_socket_on_host("unix:path=/home", files));
}

// A session that turns a folder on the way to its bus into a link to a host folder gets
// no connection to the host's socket there.
TEST(AccessibleText, NoLinkInTheSessionsFilesLeadsToAHostSocket) {
  test::TempDir dir;
  const std::string host = dir.path() + "/host", files = dir.path() + "/files";
  ASSERT_EQ(::mkdir(host.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(files.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((files + "/tmp").c_str(), 0700), 0);
  ScopedFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string socket_path = host + "/bus";
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  ASSERT_EQ(::symlink(host.c_str(), (files + "/tmp/at-spi").c_str()), 0);
  try {
    AccessibilityBus bus("unix:path=/tmp/at-spi/bus", files);
    FAIL() << "connected through a link";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("openat2"), std::string::npos) << e.what();
  }
}

TEST(AccessibleText, WindowsShowWhatNoWindowAboveCovers) {
  WindowInfo below{1, "A", "a", "below", {0, 0, 100, 100}};
  WindowInfo above{2, "B", "b", "above", {50, 0, 100, 100}};
  std::vector<ReadableWindow> w = readable_windows({below, above}, {7, std::nullopt}, {false, true});
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].id, 7);
  EXPECT_FALSE(w[1].id);  // excluded: comes along, never read
  EXPECT_FALSE(w[0].excluded);
  EXPECT_TRUE(w[1].excluded);
  ASSERT_EQ(w[0].visible.size(), 1u);
  EXPECT_EQ(w[0].visible[0], (Rect{0, 0, 50, 100}));
  ASSERT_EQ(w[1].visible.size(), 1u);
  EXPECT_EQ(w[1].visible[0], above.box);
}

}  // namespace
}  // namespace deja::display
