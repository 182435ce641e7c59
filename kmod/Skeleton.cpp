// The first half of a revive: PID 1 of the new container becomes deja-skeleton, which builds
// the process tree (kmod/skeleton/SkeletonMain.cpp).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "base/Error.h"
#include "base/Files.h"
#include "kmod/Restore.h"
#include "kmod/skeleton/SkeletonPlan.h"

namespace deja::kmod {

namespace {

std::vector<SkeletonMember> plan_of(const TreeState& tree) {
  std::vector<SkeletonMember> out;
  for (const ProcessState& p : tree.processes) {
    SkeletonMember m{p.pid.value, p.ppid.value, p.sid.value, p.pgid.value, p.zombie,
                     p.exit_status, {}};
    for (const ThreadState& t : p.threads) m.tids.push_back(t.tid.value);
    out.push_back(std::move(m));
  }
  return out;
}

// The plan in a memfd the program reads from its start; -1 and errno on failure.
int plan_file(const std::string& plan) {
  int fd = static_cast<int>(::syscall(SYS_memfd_create, "deja-skeleton-plan", 0));
  if (fd < 0) return -1;
  for (size_t at = 0; at < plan.size();) {
    ssize_t w = ::write(fd, plan.data() + at, plan.size() - at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    at += static_cast<size_t>(w);
  }
  return fd;
}

// Reports `what` failed, with errno's text, the way the skeleton program reports failures.
[[noreturn]] void give_up(int report_fd, const std::string& what) {
  std::string line = "E" + what + ": " + std::strerror(errno) + "\n";
  ssize_t n = ::write(report_fd, line.data(), line.size());
  (void)n;
  ::_exit(1);
}

}  // namespace

ScopedFd open_skeleton_program() {
  std::string path = exe_dir() + "/deja-skeleton";
  ScopedFd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!fd) throw_errno("open", path + " (is deja installed completely?)");
  return fd;
}

void run_skeleton(const TreeState& tree, int report_fd, int program_fd) {
  int plan = plan_file(encode_skeleton_plan(plan_of(tree)));
  if (plan < 0) give_up(report_fd, "memfd for the skeleton's plan");
  int report = ::dup(report_fd);  // without O_CLOEXEC: the program writes to it
  if (report < 0) give_up(report_fd, "dup of the revive's report pipe");
  std::string report_arg = std::to_string(report), plan_arg = std::to_string(plan);
  char* argv[] = {const_cast<char*>("deja-skeleton"), report_arg.data(), plan_arg.data(), nullptr};
  char* envp[] = {nullptr};
  ::syscall(SYS_execveat, program_fd, "", argv, envp, AT_EMPTY_PATH);
  give_up(report_fd, "execveat of deja-skeleton");
}

}  // namespace deja::kmod
