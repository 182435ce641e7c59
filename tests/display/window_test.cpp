// Window context of on-screen text, end to end: the display recorder (with its X connection)
// records a real Xvfb with twm and two xterms of different applications and titles, and the
// `deja` binary's search shows and filters hits by application and window. The catalog's
// window and focus rows are checked directly (no command lists them yet).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>

#include "StoreSupport.h"
#include "TestSupport.h"
#include "base/Files.h"
#include "db/Catalog.h"
#include "db/Database.h"
#include "display/DisplayIndex.h"

namespace deja::display {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::deja;
using test::TempDir;
using test::TempStore;
using test::wait_for;
using test::Xvfb;

// twm as the session desktop runs it (recorder/Session.cpp): no interactive placement.
constexpr const char* kTwmrc = "RandomPlacement\nUsePPosition \"on\"\nNoGrabServer\n";

// An xterm of application `app` titled `title` at `y`, printing `words` after a second,
// then (after `rename_after` seconds, if given) retitling itself "renamed <title>".
Child terminal(const Xvfb& x, const std::string& app, const std::string& title, int y,
               const std::vector<std::string>& words, int rename_after = 0) {
  std::string script = "sleep 1; echo " + test::spaced(words) + ";";
  if (rename_after > 0)
    script +=
        " sleep " + std::to_string(rename_after) + "; printf '\\033]2;renamed " + title + "\\007';";
  return Child({"xterm", "-class", app, "-T", title, "-geometry", "70x6+10+" + std::to_string(y),
                "-e", "sh", "-c", script + " sleep 600"},
               {"DISPLAY=" + x.display()});
}

struct WindowRow {
  std::string app, title;
  bool open;
};

std::vector<WindowRow> window_rows(const std::string& catalog) {
  db::Catalog c(catalog);
  db::Statement st(c.database(),
                   "SELECT app, title, last_ms IS NULL FROM display_windows ORDER BY id");
  std::vector<WindowRow> out;
  while (st.step()) out.push_back({st.text(0), st.text(1), st.int64(2) != 0});
  return out;
}

// The titles of the windows that had the focus, in order.
std::vector<std::string> focus_titles(const std::string& catalog) {
  db::Catalog c(catalog);
  db::Statement st(c.database(),
                   "SELECT w.title FROM display_focus f JOIN display_windows w ON w.id = f.window "
                   "ORDER BY f.first_ms");
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.text(0));
  return out;
}

bool has_row(const std::vector<WindowRow>& rows, const std::string& app, const std::string& title) {
  return std::any_of(rows.begin(), rows.end(),
                     [&](const WindowRow& r) { return r.app == app && r.title == title; });
}

TEST(WindowContext, SearchShowsAndFiltersByApplicationAndWindow) {
  TempStore s;
  test::add_session(s.store.catalog_path(), "s1");
  TempDir fb;
  Xvfb x(fb.path(), "800x500x24");
  const std::string socket = "/tmp/.X11-unix/X" + x.display().substr(1);
  write_file(fb.path() + "/twmrc", kTwmrc);
  Child wm({"twm", "-f", fb.path() + "/twmrc"}, {"DISPLAY=" + x.display(), "LC_ALL=C"});
  Child recorder(std::vector<std::string>{exe_dir() + "/deja-display-record-helper",
                                          x.framebuffer(), s.store.recordings_dir(), "s1",
                                          s.store.catalog_path(), socket});
  // Two draws where no word begins another (search takes words as prefixes), so a hit's
  // window tells which terminal showed it.
  const std::vector<std::string> alpha = test::alphabet_words();
  auto overlaps = [&](const std::vector<std::string>& other) {
    for (const std::string& a : alpha)
      for (const std::string& b : other)
        if (a.starts_with(b) || b.starts_with(a)) return true;
    return false;
  };
  std::vector<std::string> beta;
  do {
    beta = test::alphabet_words();
  } while (overlaps(beta));
  Child a = terminal(x, "AlphaTerm", "alpha window", 10, alpha, 6);
  Child b = terminal(x, "BetaTerm", "beta window", 250, beta);
  DisplayIndex index(s.store.catalog_path());
  // Word recall is not what this test is about (TextRecognizer's tests and recall_bench
  // are): it waits for every word, then goes on with one word of each terminal that was
  // found, and needs one.
  const std::vector<test::FoundWord> found_a = test::wait_indexed(index, "s1", alpha, 30s);
  const std::vector<test::FoundWord> found_b = test::wait_indexed(index, "s1", beta, 30s);
  ASSERT_FALSE(found_a.empty() || found_b.empty())
      << "indexed: " << test::indexed_text(s.store.catalog_path());
  const std::string word_a = found_a[0].word;
  const std::string word_b = found_b[0].word;
  // The keyboard goes where the pointer is (twm's focus follows the pointer).
  ASSERT_EQ(
      run_command({"env", "DISPLAY=" + x.display(), "xdotool", "mousemove", "300", "300"}).status,
      0);
  ASSERT_TRUE(wait_for(
      [&] {
        auto rows = window_rows(s.store.catalog_path());
        auto focus = focus_titles(s.store.catalog_path());
        return has_row(rows, "AlphaTerm", "renamed alpha window") && !focus.empty() &&
               focus.back() == "beta window";
      },
      20s));
  int status = recorder.kill_and_wait(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  // Each window appearance is a row; the rename closed the old title's row and opened one.
  std::vector<WindowRow> rows = window_rows(s.store.catalog_path());
  EXPECT_TRUE(has_row(rows, "AlphaTerm", "alpha window"));
  EXPECT_TRUE(has_row(rows, "BetaTerm", "beta window"));
  for (const WindowRow& r : rows) EXPECT_FALSE(r.open) << r.title << ": closed at the end";

  // Text is stored with the window it was read in, and search says which.
  CommandResult hit = deja(s, {"search", word_a, "--json"});
  ASSERT_EQ(hit.status, 0) << hit.output;
  EXPECT_NE(hit.output.find("\"app\":\"AlphaTerm\",\"window\":\"alpha window\""), std::string::npos)
      << hit.output;
  CommandResult text = deja(s, {"search", word_b});
  EXPECT_NE(text.output.find("[BetaTerm: beta window]"), std::string::npos) << text.output;

  // --app: the WM_CLASS class or instance, in any case; --window: part of the title.
  const std::string by_class = deja(s, {"search", word_a, "--app", "alphaterm", "--json"}).output;
  EXPECT_TRUE(test::reads_as(by_class, word_a)) << by_class << hit.output;
  EXPECT_EQ(deja(s, {"search", word_a, "--app", "BetaTerm", "--json"}).output, "[]\n");
  EXPECT_TRUE(
      test::reads_as(deja(s, {"search", word_b, "--app", "xterm", "--json"}).output, word_b));
  EXPECT_TRUE(
      test::reads_as(deja(s, {"search", word_b, "--window", "BETA", "--json"}).output, word_b));
  EXPECT_EQ(deja(s, {"search", word_b, "--window", "alpha", "--json"}).output, "[]\n");
  // Hits stay one per appearance: each word was printed once.
  CommandResult all = deja(s, {"search", word_b, "--session", "s1", "--json"});
  size_t n = 0;
  for (size_t at = all.output.find("\"first_seen\""); at != std::string::npos;
       at = all.output.find("\"first_seen\"", at + 1))
    ++n;
  EXPECT_EQ(n, 1u) << all.output;
}

}  // namespace
}  // namespace deja::display
