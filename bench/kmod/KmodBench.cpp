// kmod_bench [SIZE_MIB]: checkpoint and revive time for one process with SIZE_MIB (default
// 1024) of written memory, in a test container. Prints each phase and checks that the
// original and the revived copy both still hold every byte.
// kmod_bench --suite: the same numbers for every zdtm program (through zdtm_harness).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

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

int run(const std::string& mib) {
  std::string base = "/tmp/deja-kmod-bench-" + std::to_string(::getpid());
  std::string a = base + "/a", b = base + "/b", work = base + "/work";
  for (const auto& d : {a, b, work}) make_dirs(d);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { run_command({"rm", "-rf", dir}); }
  } cleanup{base};
  std::string subject = exe_dir() + "/kmod_bench_big_process";

  TestContainer orig("deja-kmod-bench-" + std::to_string(::getpid()), a, work, [&] {
    if (::chdir(work.c_str()) < 0) ::_exit(120);
    int log = ::open("log", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(log, 1);
    ::dup2(log, 2);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::close_range(3, ~0u, 0);
    ::execl(subject.c_str(), subject.c_str(), mib.c_str(), nullptr);
    ::_exit(122);
  });
  auto t = Clock::now();
  while (read_or_empty(a + "/log").find("ready") == std::string::npos) {
    if (ms_since(t) > 120000) throw Error("subject did not get ready");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  TreeState tree;
  auto t0 = Clock::now();
  double freeze_ms, capture_ms;
  {
    Cgroup group = Cgroup::open(orig.cgroup());
    FrozenCgroup frozen(group);
    freeze_ms = ms_since(t0);
    auto t1 = Clock::now();
    tree = capture_tree(orig.pid(), orig.cgroup(), CaptureOptions{Crid{1}, Crid{}});
    capture_ms = ms_since(t1);
  }
  double downtime_ms = ms_since(t0);
  std::string image = base + "/image.dimg";
  auto tw = Clock::now();
  uint64_t bytes = write_image(tree, image);
  double write_ms = ms_since(tw);
  uint64_t page_bytes = tree.page_bytes();
  tree = TreeState();

  // As `deja revive` reads it: mapped, the page data left in place, checked by the fill.
  auto tr = Clock::now();
  TreeState back = read_tree_image_mapped(image);
  double read_ms = ms_since(tr);
  run_command({"cp", "-a", a + "/.", b + "/"});
  auto tf = Clock::now();
  ScopedFd skeleton = open_skeleton_program();
  int report[2];
  if (::pipe2(report, O_CLOEXEC) < 0) throw_errno("pipe2", "report");
  ScopedFd rr(report[0]), rw(report[1]);
  TestContainer revived("deja-kmod-bench-" + std::to_string(::getpid()) + "-revived", b, work, [&] {
    rr.reset();
    run_skeleton(back, rw.get(), skeleton.get());
  });
  rw.reset();
  fill_skeleton(back, revived.pid(), rr.get());
  double fill_ms = ms_since(tf);

  std::printf("kmod_bench: process with %s MiB written memory\n", mib.c_str());
  std::printf("  checkpoint: downtime %.1f ms (freeze %.1f, capture %.1f), pages %.1f MiB\n",
              downtime_ms, freeze_ms, capture_ms, static_cast<double>(page_bytes) / (1 << 20));
  std::printf("  image write: %.1f ms (%.1f MiB, fsynced)\n", write_ms,
              static_cast<double>(bytes) / (1 << 20));
  std::printf("  revive: image read %.1f ms + skeleton and fill (checksums included) %.1f ms = "
              "%.1f ms\n",
              read_ms, fill_ms, read_ms + fill_ms);

  ::kill(orig.pid().value, SIGUSR1);
  ::kill(revived.pid().value, SIGUSR1);
  auto so = orig.wait(120), sr = revived.wait(120);
  bool ok = so && WIFEXITED(*so) && WEXITSTATUS(*so) == 0 && sr && WIFEXITED(*sr) &&
            WEXITSTATUS(*sr) == 0 && read_or_empty(b + "/log").find("PASS") != std::string::npos;
  std::printf("  verification of both copies: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

// Runs the harness on each zdtm program beside this binary and prints its timing line.
int run_suite() {
  const char* programs[] = {"zdtm_anon_memory",
                            "zdtm_deleted_file",
                            "zdtm_fifo",
                            "zdtm_files",
                            "zdtm_fpu",
                            "zdtm_misc",
                            "zdtm_pipe_inflight",
                            "zdtm_process_tree",
                            "zdtm_shmem",
                            "zdtm_signals",
                            "zdtm_sleeping_syscall",
                            "zdtm_threads",
                            "zdtm_timers",
                            "zdtm_zombie"};
  int failures = 0;
  for (const char* p : programs) {
    auto r = run_command({exe_dir() + "/zdtm_harness", "--", exe_dir() + "/" + p});
    std::string line = r.output.substr(0, r.output.find('\n'));
    std::printf("%s%s\n", line.c_str(), r.status == 0 ? "" : "  [FAIL]");
    failures += r.status != 0;
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc > 1 && std::string(argv[1]) == "--suite") return run_suite();
    return run(argc > 1 ? argv[1] : "1024");
  } catch (const std::exception& e) {
    std::printf("FAIL: %s\n", e.what());
    return 1;
  }
}
