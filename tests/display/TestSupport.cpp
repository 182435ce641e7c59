#include "TestSupport.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <utility>

#include "base/Files.h"
#include "db/Catalog.h"
#include "display/ChangeDetector.h"
#include "display/ScreenRecorder.h"
#include "display/VideoReader.h"

namespace deja::display::test {

Child::Child(const std::vector<std::string>& argv, const std::vector<std::string>& env_extra) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // Own process group, so the test's terminal signals do not reach it twice.
    ::setpgid(0, 0);
    for (const auto& e : env_extra) ::putenv(const_cast<char*>(e.c_str()));
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
}

Child::Child(Child&& o) noexcept : pid_(std::exchange(o.pid_, -1)) {}

Child::~Child() {
  if (pid_ <= 0) return;
  // SIGTERM first so an X server removes its lock file and socket; SIGKILL if it hangs.
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 40; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
    struct timespec ts {
      0, 50 * 1000 * 1000
    };
    nanosleep(&ts, nullptr);
  }
  kill_and_wait(SIGKILL);
}

int Child::kill_and_wait(int sig) {
  ::kill(pid_, sig);
  return wait();
}

int Child::wait() {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return status;
}

bool Child::exited() {
  int status = 0;
  if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) pid_ = -1;
  return pid_ <= 0;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/deja-display-test.XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {
// Display numbers from here up are left to tests; the lock file Xvfb creates tells
// which ones are taken.
constexpr int kFirstDisplay = 140;

Child start_xvfb(const std::string& fbdir, const std::string& geometry,
                 const std::string& framebuffer, int* number) {
  for (int n = kFirstDisplay; n < kFirstDisplay + 200; ++n) {
    std::string lock = "/tmp/.X" + std::to_string(n) + "-lock";
    if (path_exists(lock)) {
      // Xvfb replaces a lock whose owner is gone; skip only displays in use.
      pid_t owner = static_cast<pid_t>(std::atol(read_file(lock).c_str()));
      if (owner > 0 && (::kill(owner, 0) == 0 || errno != ESRCH)) continue;
    }
    // Xvfb listens before it creates its screens, so a framebuffer file in our fresh
    // folder means clients can connect. Two tests starting at once can pick the same
    // number: the second Xvfb exits ("already active"), and its test takes the next one.
    Child server(xvfb_command(geometry, n, fbdir));
    wait_for([&] { return path_exists(framebuffer) || server.exited(); }, std::chrono::seconds(10));
    if (server.exited()) continue;
    if (!path_exists(framebuffer))
      throw std::runtime_error("Xvfb :" + std::to_string(n) + " did not start");
    *number = n;
    return server;
  }
  throw std::runtime_error("no free X display number");
}
}  // namespace

Xvfb::Xvfb(const std::string& fbdir, const std::string& geometry)
    : framebuffer_(fbdir + "/" + kFramebufferFile),
      server_(start_xvfb(fbdir, geometry, framebuffer_, &number_)) {}

Stalls::Stalls(pid_t pid, std::chrono::milliseconds stop) {
  thread_ = std::thread([this, pid, stop] {
    std::mt19937 gen(std::random_device{}());
    std::uniform_int_distribution<long> gap(stop.count(), 3 * stop.count());
    while (!done_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(gap(gen)));
      ::kill(pid, SIGSTOP);
      std::this_thread::sleep_for(stop);
      ::kill(pid, SIGCONT);
    }
  });
}

Stalls::~Stalls() {
  done_ = true;
  thread_.join();
}

FlashFrames count_flash_frames(const std::string& segment_path) {
  auto light = [](const Frame& f, int x, int y) {
    const uint8_t* p = f.row(y) + size_t(x) * 4;
    return p[0] + p[1] + p[2] > 3 * 128;
  };
  FlashFrames out;
  VideoReader reader(segment_path);
  while (std::optional<DecodedFrame> f = reader.next()) {
    ++out.frames;
    // One point per tile band, down the window.
    int lit = 0, points = 0;
    for (int y = 8; y < f->frame.height - 8; y += ChangeDetector::kTileHeight, ++points)
      lit += light(f->frame, 200, y);
    out.dark += lit == 0;
    out.mixed += lit != 0 && lit != points;
  }
  return out;
}

void add_session(const std::string& catalog, const std::string& id) {
  db::Catalog c(catalog);
  db::SessionRow s;
  s.id = id;
  s.name = id;
  s.state = "recording";
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  s.started = double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
  s.command = "[]";
  s.home = "/";
  c.add_session(s);
}

void wait_text_idle(ScreenRecorder& rec, std::chrono::milliseconds quiet) {
  auto quiet_since = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - quiet_since < quiet) {
    struct timespec ts {
      0, 100 * 1000 * 1000
    };
    nanosleep(&ts, nullptr);
    if (rec.stats().text_busy) quiet_since = std::chrono::steady_clock::now();
  }
}

std::string indexed_text(const std::string& catalog) {
  db::Database db(catalog);
  db::Statement st(db, "SELECT text FROM display_text_fts");
  std::string out;
  while (st.step()) out += "[" + st.text(0) + "] ";
  return out;
}

bool reads_as(const std::string& text, const std::string& word) {
  std::string squeezed;
  for (char c : text)
    if (c != ' ') squeezed += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return squeezed.find(word) != std::string::npos;
}

std::vector<FoundWord> wait_indexed(DisplayIndex& index, const std::string& session,
                                    const std::vector<std::string>& words,
                                    std::chrono::milliseconds timeout) {
  std::vector<FoundWord> found;
  auto all_found = [&] {
    found.clear();
    for (const std::string& w : words)
      for (const TextHit& hit : index.search(w, session, 20))
        if (reads_as(hit.text, w)) {
          found.push_back({w, hit});
          break;
        }
    return found.size() == words.size();
  };
  wait_for(all_found, timeout);
  return found;
}

namespace {

// Words of `dict` that bring three new letters first, then whatever brings the rare ones
// left, until every letter is there.
std::vector<std::string> cover_alphabet(const std::vector<std::string>& dict) {
  std::vector<std::string> out;
  std::string seen;
  for (size_t need : {3, 1}) {
    for (const std::string& w : dict) {
      std::string fresh;
      for (char c : w)
        if (seen.find(c) == std::string::npos && fresh.find(c) == std::string::npos) fresh += c;
      if (fresh.size() < std::min(need, 26 - seen.size())) continue;
      out.push_back(w);
      seen += fresh;
      if (seen.size() == 26) return out;
    }
  }
  throw std::runtime_error("/usr/share/dict/words lacks a letter (is wamerican installed?)");
}

}  // namespace

std::vector<std::string> alphabet_words() {
  std::ifstream in("/usr/share/dict/words");
  std::vector<std::string> dict;
  for (std::string w; std::getline(in, w);)
    if (w.size() >= 3 && w.size() <= 8 &&
        std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; }) &&
        w.find_first_not_of("ivxlcdm") != std::string::npos)  // not a Roman numeral
      dict.push_back(w);
  std::mt19937 gen(std::random_device{}());
  for (;;) {
    std::shuffle(dict.begin(), dict.end(), gen);
    std::vector<std::string> words = cover_alphabet(dict);
    if (spaced(words).size() <= 70) return words;
  }
}

std::string spaced(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

}  // namespace deja::display::test
