// End to end through the `deja` binary: a screen recorded into a real store is found by
// `deja search`, shown by `deja frame` and cut by `deja export`.
//
// The recorder here is the display recorder alone (deja-display-record-helper) because
// `deja record` does not start the session's display yet; the session row is made as
// `deja record` makes it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "StoreSupport.h"
#include "TestSupport.h"
#include "base/Files.h"
#include "display/DisplayIndex.h"
#include "display/TextRecognizer.h"
#include "display/VideoReader.h"
#include "snapshot/Store.h"

namespace deja::display {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::deja;
using test::TempStore;
using test::TempDir;
using test::wait_for;
using test::Xvfb;

// The number after "key": in the first object of a JSON array.
double json_number(const std::string& json, const std::string& key) {
  auto at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::strtod(json.c_str() + at + key.size() + 3, nullptr);
}

// What the recogniser reads in the image (or the frame at `pts` of a video), a line each.
std::string read_image(const std::string& file, int64_t pts = -1) {
  VideoReader reader(file);
  std::optional<DecodedFrame> f;
  if (pts >= 0)
    f = reader.frame_at(pts);
  else
    f = reader.next();
  if (!f) return "(no image)";
  TextRecognizer ocr;
  std::string read;
  for (const TextLine& l : ocr.recognize(f->frame, {0, 0, 640, 100}))
    read += l.text + " | " + l.joined + "\n";
  return read;
}

// Whether `read` holds the words, but for the misreadings a test allows.
bool shows_all(const std::string& read, const std::vector<std::string>& words) {
  const auto shown = std::count_if(words.begin(), words.end(),
                                   [&](const std::string& w) { return test::reads_as(read, w); });
  return size_t(shown) + test::kUnreadWordsAllowed >= words.size();
}

bool shows_any(const std::string& read, const std::vector<std::string>& words) {
  return std::any_of(words.begin(), words.end(),
                     [&](const std::string& w) { return test::reads_as(read, w); });
}

TEST(DejaCli, SearchFrameAndExportARecordedWord) {
  TempStore s;
  test::add_session(s.store.catalog_path(), "s1");
  TempDir fb;
  Xvfb x(fb.path());
  const std::vector<std::string> words = test::alphabet_words();
  Child recorder(std::vector<std::string>{exe_dir() + "/deja-display-record-helper",
                                          x.framebuffer(), s.store.recordings_dir(), "s1",
                                          s.store.catalog_path()});
  Child term({"xterm", "-geometry", "80x10+0+0", "-e", "sh", "-c",
              "sleep 1; echo " + test::spaced(words) + "; sleep 600"},
             {"DISPLAY=" + x.display()});
  DisplayIndex index(s.store.catalog_path());
  const std::vector<test::FoundWord> indexed = test::wait_indexed(index, "s1", words, 30s);
  ASSERT_GE(indexed.size() + test::kUnreadWordsAllowed, words.size())
      << "of '" << test::spaced(words)
      << "' too few words were indexed; indexed: " << test::indexed_text(s.store.catalog_path());
  // Two words read next to each other, for the phrase search.
  size_t pair = 0;
  while (pair + 1 < indexed.size() &&
         std::find(words.begin(), words.end(), indexed[pair].word)[1] != indexed[pair + 1].word)
    ++pair;
  ASSERT_LT(pair + 1, indexed.size()) << "no two neighbouring words were read";
  const std::string& word = indexed[pair].word;
  const std::string& next = indexed[pair + 1].word;
  // A clean stop finishes the segment, which makes it visible to frame and export.
  int status = recorder.kill_and_wait(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  CommandResult found = deja(s, {"search", word, "--json"});
  ASSERT_EQ(found.status, 0) << found.output;
  EXPECT_NE(found.output.find("\"session\":\"s1\""), std::string::npos) << found.output;
  EXPECT_TRUE(test::reads_as(found.output, word)) << found.output;
  const double t = json_number(found.output, "t");
  EXPECT_GT(t, 0.5) << found.output;
  EXPECT_LT(t, 10) << found.output;
  EXPECT_EQ(deja(s, {"search", word, "--session", "nosuch"}).status, 1);
  // The hit is one appearance, with when it left the screen (the recording's end).
  EXPECT_NEAR(json_number(found.output, "first_seen"), t, 1e-3) << found.output;
  EXPECT_GE(json_number(found.output, "last_seen"), t) << found.output;

  // Phrases: words in a row, the last one a prefix; the other order is no match.
  const std::string phrase = "\"" + word + " " + next.substr(0, 3) + "\"";
  EXPECT_TRUE(test::reads_as(deja(s, {"search", phrase, "--json"}).output, next));
  EXPECT_EQ(deja(s, {"search", "\"" + next + " " + word + "\"", "--json"}).output, "[]\n");
  // --from/--to: appearances on screen at some moment in between.
  auto seconds = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    return std::string(buf);
  };
  auto in_range = [&](const std::string& from, const std::string& to) {
    return deja(s, {"search", word, "--session", "s1", "--from", from, "--to", to, "--json"});
  };
  EXPECT_TRUE(test::reads_as(in_range(seconds(t + 0.5), seconds(t + 1)).output, word));
  EXPECT_EQ(in_range("0", seconds(t - 0.5)).output, "[]\n");
  CommandResult no_session = deja(s, {"search", word, "--from", "3"});
  EXPECT_EQ(no_session.status, 1);
  EXPECT_NE(no_session.output.find("give --session"), std::string::npos) << no_session.output;

  char at[32];
  std::snprintf(at, sizeof at, "s1@%.3f", t);
  const std::string png = fb.path() + "/frame.png";
  CommandResult frame = deja(s, {"frame", at, "-o", png});
  ASSERT_EQ(frame.status, 0) << frame.output;
  const std::string read = read_image(png);
  EXPECT_TRUE(shows_all(read, words)) << "deja frame " << at << " does not show every word of "
                                      << test::spaced(words) << "; it reads " << read;
  CommandResult none = deja(s, {"frame", "s1@0.001", "-o", png + ".early"});
  EXPECT_NE(none.status, 0);  // before the first frame there is no screen to show

  char from[32], to[32];
  std::snprintf(from, sizeof from, "%.3f", t - 1);
  std::snprintf(to, sizeof to, "%.3f", t + 1);
  const std::string clip = fb.path() + "/clip.mp4";
  CommandResult exported = deja(s, {"export", "s1", "--from", from, "--to", to, "-o", clip});
  ASSERT_EQ(exported.status, 0) << exported.output;
  // The clip starts before the word was printed and ends with it on screen.
  EXPECT_FALSE(shows_any(read_image(clip, 0), words));
  EXPECT_TRUE(shows_all(read_image(clip, 2000), words));
}

}  // namespace
}  // namespace deja::display
