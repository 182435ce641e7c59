// search_bench: `deja search` latency over a synthetic week of on-screen text with the
// window context the recorder stores: lines from a Zipf-like vocabulary spread over a week,
// read in windows of a dozen applications whose titles change every few minutes. Each run
// times every kind of query (words, prefixes, a phrase, one day of --from/--to, --app and
// --window filters) many times and prints its p50/p95; at the end, per kind, the median
// of the runs' p95 and each run's value, with the machine's load average.
//
//   search_bench [--runs N] [--queries N] [--week-lines N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../../tests/display/TestSupport.h"
#include "db/Database.h"
#include "display/DisplayIndex.h"

namespace deja::display {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int runs = 3;
  int queries = 200;
  int week_lines = 400000;
};

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double at(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size())))];
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string one, five;
  f >> one >> five;
  return one + " (5 min: " + five + ")";
}

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The applications of the synthetic desktop and the share of the screen time each gets
// (a terminal and a browser most, a calculator hardly ever).
struct App {
  const char* cls;
  const char* instance;
  const char* title;
  double share;
};
constexpr App kApps[] = {
    {"XTerm", "xterm", "user@host: ~/src/project", 0.30},
    {"firefox-esr", "Navigator", "Search results - Mozilla Firefox", 0.25},
    {"Emacs", "emacs", "main.cpp - GNU Emacs", 0.15},
    {"Thunderbird", "Mail", "Inbox - Mozilla Thunderbird", 0.08},
    {"libreoffice-writer", "libreoffice", "report.odt - LibreOffice Writer", 0.06},
    {"Evince", "evince", "paper.pdf", 0.05},
    {"Gimp", "gimp", "GNU Image Manipulation Program", 0.04},
    {"Nautilus", "org.gnome.Nautilus", "Home", 0.03},
    {"Gedit", "gedit", "notes.txt - gedit", 0.02},
    {"Pavucontrol", "pavucontrol", "Volume Control", 0.01},
    {"Xcalc", "xcalc", "Calculator", 0.005},
    {"Xclock", "xclock", "xclock", 0.005},
};

struct Week {
  test::TempDir dir;
  std::string catalog = dir.path() + "/catalog.db";
  std::vector<std::string> vocab;
  int64_t start = 0, length = 7ll * 24 * 3600 * 1000;
};

// A week of a busy screen: a new window row (an application and a title, numbered, as a
// terminal's title changes with its folder) every ~50 lines; each line visible 30 s.
void build(Week& w, const Options& opt) {
  test::add_session(w.catalog, "week");
  DisplayIndex index(w.catalog);
  std::mt19937 gen(7);
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    for (int n = 4 + int(gen() % 6); n > 0; --n) s += char('a' + gen() % 26);
    w.vocab.push_back(s);
  }
  // Rank r is drawn with probability ~ 1/r: a few very common words, a long tail.
  std::vector<double> weights;
  for (size_t r = 1; r <= w.vocab.size(); ++r) weights.push_back(1.0 / double(r));
  std::discrete_distribution<size_t> zipf(weights.begin(), weights.end());
  std::vector<double> shares;
  for (const App& a : kApps) shares.push_back(a.share);
  std::discrete_distribution<size_t> app(shares.begin(), shares.end());
  auto t = Clock::now();
  w.start = unix_ms() - w.length;
  auto& db = index.catalog().database();
  db::Transaction tx(db);
  db::Statement row(db,
                    "INSERT INTO display_text (session, first_ms, last_ms, x, y, w, h, "
                    "confidence, window) VALUES ('week', ?, ?, 0, ?, 600, 13, 90, ?)");
  db::Statement fts(db,
                    "INSERT INTO display_text_fts (rowid, text, app, title) VALUES (?, ?, ?, ?)");
  // The rows DisplayIndex::update_windows writes, here inside the one transaction.
  db::Statement win(db,
                    "INSERT INTO display_windows (session, xid, app, instance, title, first_ms, "
                    "last_ms) VALUES ('week', ?, ?, ?, ?, ?, ?)");
  const int64_t window_ms = w.length * 50 / opt.week_lines;
  int64_t window = 0;
  int windows = 0;
  std::string app_words, title;
  for (int i = 0; i < opt.week_lines; ++i) {
    const int64_t first = w.start + w.length * i / opt.week_lines;
    if (i % 50 == 0) {
      const App& a = kApps[app(gen)];
      win.bind(1, int64_t{0x400000} + windows).bind(2, a.cls).bind(3, a.instance);
      title = std::string(a.title) + " " + std::to_string(windows);
      app_words = std::string(a.cls) + " " + a.instance;
      win.bind(4, title);
      win.bind(5, first).bind(6, first + window_ms).run();
      win.reset();
      window = db.last_insert_rowid();
      ++windows;
    }
    std::string text;
    for (int n = 3 + int(gen() % 8); n > 0; --n)
      text += (text.empty() ? "" : " ") + w.vocab[zipf(gen)];
    row.bind(1, first).bind(2, first + 30000).bind(3, (i % 60) * 13).bind(4, window).run();
    row.reset();
    fts.bind(1, db.last_insert_rowid()).bind(2, text).bind(3, app_words).bind(4, title).run();
    fts.reset();
  }
  tx.commit();
  std::printf("week of text: %d lines in %d window rows, built in %.1f s\n", opt.week_lines,
              windows, ms_since(t) / 1000);
}

using Kind = std::pair<std::string, std::function<TextQuery(int, std::mt19937&)>>;

std::vector<Kind> kinds(const Week& w) {
  auto words = [](const std::string& text) {
    TextQuery q;
    q.text = text;
    return q;
  };
  const auto& v = w.vocab;
  auto tail = [&v](std::mt19937& g) { return v[5000 + g() % (v.size() - 5000)]; };
  auto day = [&w](TextQuery q, std::mt19937& g) {
    q.from_ms = w.start + int64_t(g() % uint64_t(w.length - 24 * 3600 * 1000));
    q.to_ms = *q.from_ms + 24 * 3600 * 1000;
    return q;
  };
  return {
      {"common word", [=](int i, std::mt19937&) { return words(v[i % 20]); }},
      {"rare word", [=](int, std::mt19937& g) { return words(tail(g)); }},
      {"two words", [=](int i, std::mt19937& g) { return words(v[i % 50] + " " + tail(g)); }},
      {"2-letter prefix", [=](int i, std::mt19937&) { return words(v[i % 20].substr(0, 2)); }},
      {"phrase",
       [=](int i, std::mt19937&) { return words("\"" + v[i % 20] + " " + v[i % 30 + 1] + "\""); }},
      {"common, 1 day", [=](int i, std::mt19937& g) { return day(words(v[i % 20]), g); }},
      {"common --app xterm",
       [=](int i, std::mt19937&) {
         TextQuery q = words(v[i % 20]);
         q.app = "xterm";
         return q;
       }},
      {"common --app rare",
       [=](int i, std::mt19937&) {
         TextQuery q = words(v[i % 20]);
         q.app = "xcalc";
         return q;
       }},
      {"rare --app xterm",
       [=](int, std::mt19937& g) {
         TextQuery q = words(tail(g));
         q.app = "XTerm";
         return q;
       }},
      {"common --window",
       [=](int i, std::mt19937&) {
         TextQuery q = words(v[i % 20]);
         q.window = "inbox";
         return q;
       }},
      {"common --app, 1 day",
       [=](int i, std::mt19937& g) {
         TextQuery q = day(words(v[i % 20]), g);
         q.app = "emacs";
         return q;
       }},
  };
}

int run(const Options& opt) {
  Week w;
  build(w, opt);
  DisplayIndex index(w.catalog);
  std::vector<Kind> ks = kinds(w);
  std::map<std::string, std::vector<double>> p95s;
  for (int r = 0; r < opt.runs; ++r) {
    std::printf("run %d, load average %s\n", r + 1, load_average().c_str());
    std::mt19937 gen(100 + r);
    for (const auto& [name, make] : ks) {
      std::vector<double> ms;
      for (int i = 0; i < opt.queries; ++i) {
        TextQuery q = make(i, gen);
        auto t0 = Clock::now();
        index.search(q);
        ms.push_back(ms_since(t0));
      }
      p95s[name].push_back(at(ms, 0.95));
      std::printf("  %-20s p50 %7.2f ms  p95 %7.2f ms\n", name.c_str(), at(ms, 0.5), at(ms, 0.95));
    }
  }
  std::printf("p95 over %d runs of %d queries each (median, then each run), load now %s:\n",
              opt.runs, opt.queries, load_average().c_str());
  for (const auto& [name, make] : ks) {
    const std::vector<double>& v = p95s[name];
    std::printf("  %-20s %7.2f ms  (", name.c_str(), at(v, 0.5));
    for (size_t i = 0; i < v.size(); ++i) std::printf("%s%.2f", i ? ", " : "", v[i]);
    std::printf(")\n");
  }
  return 0;
}

}  // namespace
}  // namespace deja::display

int main(int argc, char** argv) {
  deja::display::Options opt;
  for (int i = 1; i < argc; ++i) {
    auto value = [&] { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (!std::strcmp(argv[i], "--runs")) {
      opt.runs = value();
    } else if (!std::strcmp(argv[i], "--queries")) {
      opt.queries = value();
    } else if (!std::strcmp(argv[i], "--week-lines")) {
      opt.week_lines = value();
    } else {
      std::fprintf(stderr, "usage: %s [--runs N] [--queries N] [--week-lines N]\n", argv[0]);
      return 2;
    }
  }
  if (opt.runs < 1 || opt.queries < 1 || opt.week_lines < 50) {
    std::fprintf(stderr, "search_bench: --runs and --queries must be >= 1, --week-lines >= 50\n");
    return 2;
  }
  try {
    return deja::display::run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "search_bench: %s\n", e.what());
    return 1;
  }
}
