#include "base/Files.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/Error.h"
#include "base/ScopedFd.h"

namespace deja {

std::string read_file(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

static void write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void write_file(const std::string& path, std::string_view data) {
  ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) throw_errno("open", path);
  write_all(fd.get(), data, path);
}

void write_file_atomic(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  {
    ScopedFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) throw_errno("open", tmp);
    write_all(fd.get(), data, tmp);
    if (::fsync(fd.get()) != 0) throw_errno("fsync", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno("rename", tmp);
}

void make_dirs(const std::string& path, unsigned mode) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i != path.size() && path[i] != '/') continue;
    std::string part = path.substr(0, i);
    if (::mkdir(part.c_str(), mode) != 0 && errno != EEXIST) throw_errno("mkdir", part);
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw_errno("stat", path);
  if (!S_ISDIR(st.st_mode)) throw Error(path + " exists and is not a folder");
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string exe_dir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n < 0) throw_errno("readlink", "/proc/self/exe");
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.rfind('/'));
}

CommandResult run_command(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2", argv[0]);
  ScopedFd rd(fds[0]), wr(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", argv[0]);
  if (pid == 0) {
    ::dup2(wr.get(), 1);
    ::dup2(wr.get(), 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  wr.reset();
  CommandResult r;
  r.output = read_all(rd.get());
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

}  // namespace deja

namespace deja {

int open_regular_beneath(const std::string& root, const std::string& relative) {
  ScopedFd dir(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) throw_errno("open", root);
  open_how how{};
  how.flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  ScopedFd fd(static_cast<int>(
      ::syscall(SYS_openat2, dir.get(), relative.c_str(), &how, sizeof how)));
  if (!fd) throw_errno("openat2", root + "/" + relative);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_errno("fstat", root + "/" + relative);
  if (!S_ISREG(st.st_mode)) throw Error(root + "/" + relative + " is not a regular file");
  // Reads block as usual from here (O_NONBLOCK only kept open() off a FIFO).
  ::fcntl(fd.get(), F_SETFL, 0);
  return fd.release();
}

}  // namespace deja
