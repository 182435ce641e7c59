// recall_bench: how much of the text on screen `deja search` finds. For each setting (a
// terminal font and size, light or dark colours, a Qt window) it shows a generated corpus of
// ordinary English words (drawn from /usr/share/dict/words, a new draw each run) on a real
// Xvfb, records it with the real ScreenRecorder (capture, preprocessing, Tesseract, the
// catalog's text index), and looks every word up with DisplayIndex::search, as `deja search`
// does. A word counts as found when a hit's text holds it as a whole word (or split in two
// by Tesseract, as the index's joined runs find it), in any case, but not as the prefix of
// another word.
// Prints recall per setting and run, the median over runs, and how many other words the
// index holds (misreadings and junk: a lower bar for Tesseract's confidence raises both).
//
//   recall_bench [--runs N] [--words N] [--only SUBSTRING] [--misses] [--joined]
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../../tests/display/TestSupport.h"
#include "base/Error.h"
#include "base/Files.h"
#include "db/Database.h"
#include "display/DisplayIndex.h"
#include "display/ScreenRecorder.h"

namespace deja::display {
namespace {

using namespace std::chrono_literals;

struct Options {
  int runs = 3;
  int words = 120;
  std::string only;
  bool misses = false;
  bool joined = false;
};

// Rows of the terminal: at 16 px a line is 19 px tall, and 40 of them fit the screen. The
// corpus must fit in one screen less a row (the cursor's), or its first lines scroll away.
constexpr int kRows = 40;

/// How the corpus is put on screen: the program and its arguments; FILE stands for the
/// corpus file.
struct Setting {
  std::string name;
  std::vector<std::string> argv;
};

std::vector<std::string> xterm(std::vector<std::string> look) {
  std::vector<std::string> argv{"xterm", "-geometry", "84x" + std::to_string(kRows) + "+0+0"};
  argv.insert(argv.end(), look.begin(), look.end());
  argv.insert(argv.end(), {"-e", "sh", "-c", "cat FILE; exec sleep 100000"});
  return argv;
}

std::vector<Setting> settings() {
  const std::vector<std::string> dark{"-bg", "black", "-fg", "grey90"};
  std::vector<Setting> out;
  for (bool is_dark : {false, true}) {
    const std::string scheme = is_dark ? " dark" : " light";
    std::vector<std::string> colours = is_dark ? dark : std::vector<std::string>{};
    out.push_back({"xterm fixed 6x13" + scheme, xterm(colours)});
    std::vector<std::string> nine = colours;
    nine.insert(nine.end(), {"-fn", "9x15"});
    out.push_back({"xterm fixed 9x15" + scheme, xterm(nine)});
    for (int px = 9; px <= 16; ++px) {
      std::vector<std::string> look = colours;
      look.insert(look.end(), {"-fa", "DejaVu Sans Mono:pixelsize=" + std::to_string(px)});
      out.push_back({"xterm DejaVu Sans Mono " + std::to_string(px) + "px" + scheme, xterm(look)});
    }
  }
  out.push_back({"Qt 6 text view (default theme)",
                 {exe_dir() + "/deja-bench-qt-text", "FILE"}});
  out.push_back({"GTK 3 text view (default theme)",
                 {"/usr/bin/python3", DEJA_BENCH_DIR "/gtk_text_window.py", "FILE"}});
  return out;
}

std::vector<std::string> dictionary() {
  std::ifstream in("/usr/share/dict/words");
  if (!in) throw Error("/usr/share/dict/words is missing: install wamerican");
  std::vector<std::string> out;
  for (std::string w; std::getline(in, w);)
    if (w.size() >= 3 && w.size() <= 10 &&
        std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; }) &&
        w.find_first_not_of("ivxlcdm") != std::string::npos)  // not a Roman numeral
      out.push_back(w);
  return out;
}

// `count` distinct words, so that every letter of the alphabet is among them.
std::vector<std::string> draw_corpus(const std::vector<std::string>& dict, int count,
                                     bool joined, std::mt19937& gen) {
  for (;;) {
    std::vector<std::string> words;
    std::sample(dict.begin(), dict.end(), std::back_inserter(words), count, gen);
    std::shuffle(words.begin(), words.end(), gen);
    // Identifiers and file names: two words joined, outside Tesseract's dictionary.
    if (joined)
      for (size_t i = 0; i + 1 < words.size(); ++i) words[i] += words[i + 1].substr(0, 5);
    std::string letters;
    for (const auto& w : words) letters += w;
    const std::string alphabet = "abcdefghijklmnopqrstuvwxyz";
    if (std::all_of(alphabet.begin(), alphabet.end(),
                    [&](char c) { return letters.find(c) != std::string::npos; }))
      return words;
  }
}

// Lines of at most `width` characters.
std::string layout(const std::vector<std::string>& words, size_t width) {
  std::string text, line;
  for (const auto& w : words) {
    if (!line.empty() && line.size() + 1 + w.size() > width) {
      text += line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + w;
  }
  return text + line + "\n";
}

std::vector<std::string> tokens(const std::string& text) {
  std::vector<std::string> out;
  std::string t;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!t.empty()) {
      out.push_back(t);
      t.clear();
    }
  }
  if (!t.empty()) out.push_back(t);
  return out;
}

// Whether `text` holds `word` as a token, or as two neighbouring tokens joined, ignoring
// case as the index does (Tesseract often reads a line's first letter as a capital).
bool holds_word(const std::string& text, const std::string& word) {
  std::vector<std::string> t = tokens(text);
  for (size_t i = 0; i < t.size(); ++i)
    if (t[i] == word || (i + 1 < t.size() && t[i] + t[i + 1] == word)) return true;
  return false;
}


struct Result {
  double recall = 0;
  int other_tokens = 0;  // indexed words that are not in the corpus: misreadings and junk
};

// One setting, one corpus: the fraction of its words found.
Result measure(const Setting& s, const std::vector<std::string>& words, const Options& opt) {
  test::TempDir dir;
  const std::string fbdir = dir.path() + "/fb", corpus = dir.path() + "/corpus.txt";
  make_dirs(fbdir);
  const std::string text = layout(words, 80);
  if (std::count(text.begin(), text.end(), '\n') >= kRows)
    throw Error("the corpus does not fit on one screen: ask for fewer --words");
  write_file(corpus, text);
  const std::string catalog = dir.path() + "/catalog.db";
  test::add_session(catalog, "bench");
  test::Xvfb x(fbdir, "1280x800x24");
  RecorderOptions o;
  o.framebuffer = x.framebuffer();
  o.recordings_dir = dir.path() + "/recordings";
  o.session = "bench";
  o.catalog = catalog;
  ScreenRecorder rec(o);
  rec.start();
  std::vector<std::string> argv = s.argv;
  for (auto& a : argv)
    if (auto at = a.find("FILE"); at != std::string::npos) a.replace(at, 4, corpus);
  test::Child app(argv, {"DISPLAY=" + x.display()});
  // The window appears, is drawn, settles, and is read.
  std::this_thread::sleep_for(3s);
  test::wait_text_idle(rec, 1500ms);
  rec.stop();
  DisplayIndex index(catalog);
  Result result;
  {
    std::set<std::string> corpus(words.begin(), words.end());
    db::Statement st(index.catalog().database(), "SELECT text FROM display_text_fts");
    while (st.step())
      for (const auto& t : tokens(st.text(0))) result.other_tokens += !corpus.count(t);
  }
  int found = 0;
  std::vector<std::string> missed;
  for (const auto& w : words) {
    bool hit = false;
    for (const TextHit& h : index.search(w, "bench", 50)) hit = hit || holds_word(h.text, w);
    if (hit)
      ++found;
    else
      missed.push_back(w);
  }
  if (opt.misses && !missed.empty()) {
    std::string m;
    for (const auto& w : missed) m += " " + w;
    std::printf("  missed:%s\n  read: %s\n", m.c_str(), test::indexed_text(catalog).c_str());
  }
  result.recall = double(found) / double(words.size());
  return result;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int run(const Options& opt) {
  const std::vector<std::string> dict = dictionary();
  std::random_device rd;
  const unsigned seed = rd();
  std::printf("corpus: %d words per setting and run from /usr/share/dict/words, seed %u\n",
              opt.words, seed);
  std::mt19937 gen(seed);
  std::vector<std::string> lines;
  for (const Setting& s : settings()) {
    if (!opt.only.empty() && s.name.find(opt.only) == std::string::npos) continue;
    std::vector<double> recalls, others;
    std::string each;
    for (int r = 0; r < opt.runs; ++r) {
      Result res = measure(s, draw_corpus(dict, opt.words, opt.joined, gen), opt);
      recalls.push_back(res.recall);
      others.push_back(res.other_tokens);
      char buf[16];
      std::snprintf(buf, sizeof buf, " %.1f", 100 * res.recall);
      each += buf;
    }
    std::printf("%-38s recall median %5.1f %%  (runs:%s)  other words read: median %.0f\n",
                s.name.c_str(), 100 * median(recalls), each.c_str(), median(others));
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace deja::display

int main(int argc, char** argv) {
  deja::display::Options opt;
  for (int i = 1; i < argc; ++i) {
    auto value = [&] { return i + 1 < argc ? argv[++i] : ""; };
    if (!std::strcmp(argv[i], "--runs")) {
      opt.runs = std::max(1, std::atoi(value()));
    } else if (!std::strcmp(argv[i], "--words")) {
      opt.words = std::max(30, std::atoi(value()));
    } else if (!std::strcmp(argv[i], "--only")) {
      opt.only = value();
    } else if (!std::strcmp(argv[i], "--joined")) {
      opt.joined = true;
    } else if (!std::strcmp(argv[i], "--misses")) {
      opt.misses = true;
    } else {
      std::fprintf(stderr, "usage: %s [--runs N] [--words N] [--only SUBSTRING] [--misses] [--joined]\n",
                   argv[0]);
      return 2;
    }
  }
  try {
    return deja::display::run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "recall_bench: %s\n", e.what());
    return 1;
  }
}
