// zdtm_harness: runs one program through checkpoint and revive and checks both copies.
//
//   zdtm_harness [--stock SECONDS] [--generations N] [--capture-fails-with TEXT]
//                [--save-image FILE] [--incremental] [--expect TEXT] -- PROGRAM [ARGS...]
//
// zdtm mode (default): PROGRAM prints "ready" once its state is set up, then waits for
// SIGUSR1, verifies its state and exits 0 after printing a PASS line. The harness starts it
// in a container, waits for "ready", freezes the container's cgroup, captures it, copies its
// work folder (the stand-in for the session snapshot), thaws it, writes the image, reads the
// image back, revives it in a second container, signals both copies and requires both to
// pass.
//
// stock mode: PROGRAM is any program that prints a result and exits 0; the checkpoint is
// taken SECONDS after start, and both copies must exit 0 with identical output (containing
// TEXT when given).
//
// --generations N revives a branch of a branch: each copy is checkpointed and revived in
// turn, and all N + 1 copies must pass. --capture-fails-with TEXT expects the capture to be
// refused with an error containing TEXT, and the original to pass afterwards regardless.
// --save-image FILE keeps a copy of the first image (for `deja image show` tests).
// --incremental revives each copy from an incremental image whose pages all refer to the
// full image before it (the chain layout), resolved at revive time.
// --foreign-member (with --capture-fails-with) first moves an outside process into the
// original's cgroup.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/Error.h"
#include "base/Files.h"
#include "base/ScopedFd.h"
#include "kmod/Checkpoint.h"
#include "base/Cgroup.h"
#include "kmod/PageRefs.h"
#include "kmod/Restore.h"
#include "kmod/TreeCodec.h"
#include "tests/kmod/TestContainer.h"

using namespace deja;
using namespace deja::kmod;
using deja::kmod::test::ms_since;
using deja::kmod::test::read_or_empty;
using deja::kmod::test::TestContainer;
using Clock = std::chrono::steady_clock;

namespace {

std::string describe(std::optional<int> status) {
  if (!status) return "did not exit in time";
  if (WIFEXITED(*status)) return "exited " + std::to_string(WEXITSTATUS(*status));
  if (WIFSIGNALED(*status)) return std::string("killed by ") + strsignal(WTERMSIG(*status));
  return "status " + std::to_string(*status);
}

// A child process outside any container, killed and reaped when this object goes away.
class TestProcess {
 public:
  explicit TestProcess(const std::vector<std::string>& argv) {
    pid_ = ::fork();
    if (pid_ < 0) throw_errno("fork", argv[0]);
    if (pid_ == 0) {
      std::vector<char*> v;
      for (const auto& a : argv) v.push_back(const_cast<char*>(a.c_str()));
      v.push_back(nullptr);
      ::execvp(v[0], v.data());
      ::_exit(127);
    }
  }
  TestProcess(const TestProcess&) = delete;
  TestProcess& operator=(const TestProcess&) = delete;
  ~TestProcess() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
};

struct Options {
  double stock_after = -1;
  int generations = 1;
  std::string capture_fails_with;
  std::string save_image;
  bool foreign_member = false;
  bool incremental = false;
  std::string expect;
  std::vector<std::string> argv;
};

Options parse(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "--stock" && i + 1 < argc) {
      o.stock_after = std::atof(argv[++i]);
    } else if (a == "--generations" && i + 1 < argc) {
      o.generations = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--foreign-member") {
      o.foreign_member = true;
    } else if (a == "--incremental") {
      o.incremental = true;
    } else if (a == "--save-image" && i + 1 < argc) {
      o.save_image = argv[++i];
    } else if (a == "--capture-fails-with" && i + 1 < argc) {
      o.capture_fails_with = argv[++i];
    } else if (a == "--expect" && i + 1 < argc) {
      o.expect = argv[++i];
    } else {
      throw Error(
          "usage: zdtm_harness [--stock SECONDS] [--generations N] [--capture-fails-with TEXT] "
          "[--save-image FILE] [--incremental] [--foreign-member] [--expect TEXT] -- PROGRAM "
          "[ARGS...]");
    }
  }
  for (; i < argc; ++i) o.argv.push_back(argv[i]);
  if (o.argv.empty()) throw Error("no program given");
  // The program runs from its work folder: a relative path must not depend on ours.
  if (o.argv[0].find('/') != std::string::npos) {
    char real[PATH_MAX];
    if (!::realpath(o.argv[0].c_str(), real)) throw_errno("realpath", o.argv[0]);
    o.argv[0] = real;
  }
  return o;
}

[[noreturn]] void exec_program(const std::string& work, const std::vector<std::string>& args) {
  if (::chdir(work.c_str()) < 0) ::_exit(120);
  int log = ::open("log", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int null = ::open("/dev/null", O_RDONLY);
  if (log < 0 || null < 0) ::_exit(121);
  ::dup2(null, 0);
  ::dup2(log, 1);
  ::dup2(log, 2);
  ::close_range(3, ~0u, 0);
  std::vector<char*> v;
  for (const auto& a : args) v.push_back(const_cast<char*>(a.c_str()));
  v.push_back(nullptr);
  ::execvp(v[0], v.data());
  ::_exit(122);
}

// One step of the chain: checkpoint `from` (its work folder `from_dir`), copy the folder to
// `to_dir`, write and re-read the image, and revive it as a new container.
std::unique_ptr<TestContainer> checkpoint_and_revive(const std::string& name, TestContainer& from,
                                                     const std::string& from_dir,
                                                     const std::string& to_dir,
                                                     const std::string& work,
                                                     const std::string& image, Crid crid,
                                                     bool incremental) {
  TreeState tree;
  double capture_ms, downtime_ms;
  {
    auto t0 = Clock::now();
    Cgroup group = Cgroup::open(from.cgroup());
    FrozenCgroup frozen(group);
    auto t1 = Clock::now();
    tree = capture_tree(from.pid(), from.cgroup(), CaptureOptions{crid, Crid{}});
    capture_ms = ms_since(t1);
    // The copy stands in for the session's btrfs snapshot: taken while frozen.
    auto cp = run_command({"cp", "-a", from_dir + "/.", to_dir + "/"});
    if (cp.status != 0) throw Error("copy of the work folder failed: " + cp.output);
    frozen.thaw();
    downtime_ms = ms_since(t0);
  }
  auto tw = Clock::now();
  ImageLayout layout = write_image_with_layout(tree, image);
  uint64_t bytes = layout.bytes;
  double write_ms = ms_since(tw);
  // Read as `deja revive` reads it: mapped, the pages left in place and checked before use.
  TreeState back = read_tree_image_mapped(image);
  if (incremental) {
    // Revive through a chain: a second image whose pages all refer to the first one, read
    // back and resolved from it (as a revive of CRID N pulls pages from older images).
    TreeState inc = read_tree_image_file(image);
    inc.crid = Crid{crid.value + 1000};
    inc.parent = crid;
    uint64_t refs = refer_to_image(inc, crid, layout);
    std::string inc_path = image + ".inc";
    uint64_t inc_bytes = write_image(inc, inc_path);
    back = read_tree_image_mapped(inc_path);
    map_page_refs(back, [&](Crid c) {
      if (c != crid) throw Error("no image for CRID " + std::to_string(c.value));
      return image;
    });
    std::printf("%s crid %llu: incremental image of %llu bytes refers to %llu pages of crid %llu\n",
                name.c_str(), static_cast<unsigned long long>(inc.crid.value),
                static_cast<unsigned long long>(inc_bytes), static_cast<unsigned long long>(refs),
                static_cast<unsigned long long>(crid.value));
  }

  // The checksums are left to the fill, as in `deja revive`: every zdtm test runs that path.
  auto tr = Clock::now();
  ScopedFd skeleton = open_skeleton_program();
  int report[2];
  if (::pipe2(report, O_CLOEXEC) < 0) throw_errno("pipe2", "revive report");
  ScopedFd report_r(report[0]), report_w(report[1]);
  auto revived = std::make_unique<TestContainer>(
      "deja-zdtm-" + name + "-" + std::to_string(::getpid()) + "-crid" + std::to_string(crid.value),
      to_dir, work, [&] {
        report_r.reset();
        run_skeleton(back, report_w.get(), skeleton.get());
      });
  report_w.reset();
  fill_skeleton(back, revived->pid(), report_r.get());
  double revive_ms = ms_since(tr);
  std::printf(
      "%s crid %llu: %zu processes, image %llu bytes; downtime %.2f ms (capture %.2f "
      "ms), write %.2f ms, revive %.2f ms\n",
      name.c_str(), static_cast<unsigned long long>(crid.value), tree.processes.size(),
      static_cast<unsigned long long>(bytes), downtime_ms, capture_ms, write_ms, revive_ms);
  return revived;
}

int run(const Options& o) {
  std::string name = o.argv[0].substr(o.argv[0].rfind('/') + 1);
  std::string tag = "deja-zdtm-" + name + "-" + std::to_string(::getpid());
  std::string base = "/tmp/" + tag;
  std::string work = base + "/work";
  std::vector<std::string> dirs;
  for (int g = 0; g <= o.generations; ++g) dirs.push_back(base + "/copy" + std::to_string(g));
  make_dirs(work);
  for (const auto& d : dirs) make_dirs(d);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { run_command({"rm", "-rf", dir}); }
  } cleanup{base};

  // copies[0] is the original; copies[g] was revived from a checkpoint of copies[g - 1]
  // (a branch of a branch when g > 1). Declared before use so any failure kills them all.
  std::vector<std::unique_ptr<TestContainer>> copies;
  copies.push_back(std::make_unique<TestContainer>(tag + "-orig", dirs[0], work,
                                                   [&] { exec_program(work, o.argv); }));
  TestContainer& orig = *copies[0];

  auto start = Clock::now();
  if (o.stock_after >= 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(o.stock_after));
  } else {
    while (read_or_empty(dirs[0] + "/log").find("ready") == std::string::npos) {
      if (ms_since(start) > 10000) throw Error(name + " did not print ready within 10 s");
      if (auto st = orig.wait(0))
        throw Error(name + " " + describe(st) + " before ready:\n" +
                    read_or_empty(dirs[0] + "/log"));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  if (!o.capture_fails_with.empty()) {
    // The engine must refuse, name what it refuses, and leave the original unharmed.
    std::optional<TestProcess> intruder;
    if (o.foreign_member) {
      // A process that joined the session's cgroup from outside its tree.
      intruder.emplace(std::vector<std::string>{"sleep", "30"});
      write_file(orig.cgroup() + "/cgroup.procs", std::to_string(intruder->pid()));
    }
    std::string error;
    try {
      Cgroup group = Cgroup::open(orig.cgroup());
      FrozenCgroup frozen(group);
      capture_tree(orig.pid(), orig.cgroup(), CaptureOptions{Crid{1}, Crid{}});
    } catch (const Error& e) {
      error = e.what();
    }
    std::printf("capture error: %s\n", error.empty() ? "(none)" : error.c_str());
    bool refused = error.find(o.capture_fails_with) != std::string::npos;
    ::kill(orig.pid().value, SIGUSR1);
    auto st = orig.wait(30);
    std::string log = read_or_empty(dirs[0] + "/log");
    bool pass = refused && st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0 &&
                log.find("PASS") != std::string::npos;
    if (!pass) std::printf("--- original log ---\n%s--- end ---\n", log.c_str());
    std::printf("%s %s\n", pass ? "PASS" : "FAIL", name.c_str());
    return pass ? 0 : 1;
  }

  for (int g = 1; g <= o.generations; ++g)
    copies.push_back(checkpoint_and_revive(
        name, *copies[static_cast<size_t>(g - 1)], dirs[static_cast<size_t>(g - 1)],
        dirs[static_cast<size_t>(g)], work, base + "/crid" + std::to_string(g) + ".dimg",
        Crid{static_cast<uint64_t>(g)}, o.incremental));

  if (!o.save_image.empty()) {
    auto cp = run_command({"cp", base + "/crid1.dimg", o.save_image});
    if (cp.status != 0) throw Error("cannot save the image: " + cp.output);
  }
  if (o.stock_after < 0)
    for (auto& c : copies) ::kill(c->pid().value, SIGUSR1);
  bool ok = true;
  std::string first_log;
  for (size_t g = 0; g < copies.size(); ++g) {
    auto st = copies[g]->wait(30);
    std::string log = read_or_empty(dirs[g] + "/log");
    bool pass = st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0;
    if (o.stock_after < 0) pass = pass && log.find("PASS") != std::string::npos;
    if (!o.expect.empty()) pass = pass && log.find(o.expect) != std::string::npos;
    // Stock programs: every copy must print exactly what the original printed.
    if (o.stock_after >= 0 && g > 0) pass = pass && log == first_log;
    if (g == 0) first_log = log;
    std::string who = g == 0 ? "original" : "revived (generation " + std::to_string(g) + ")";
    std::printf("%s copy: %s, %s\n", who.c_str(), describe(st).c_str(), pass ? "PASS" : "FAIL");
    if (!pass) {
      std::printf("--- %s log ---\n%s--- end ---\n", who.c_str(), log.c_str());
      ok = false;
    }
  }
  std::printf("%s %s\n", ok ? "PASS" : "FAIL", name.c_str());
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::printf("FAIL: %s\n", e.what());
    return 1;
  }
}
