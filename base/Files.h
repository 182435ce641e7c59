// Whole-file helpers and path lookups used across components.
#pragma once

#include <string>
#include <vector>

namespace deja {

/// Reads a whole file; throws SysError naming the path.
std::string read_file(const std::string& path);
/// Reads from `fd` until end of file (a pipe's writers all closed); stops early on an error.
std::string read_all(int fd);
/// Writes `data` to `path` (truncating), throws SysError naming the path.
void write_file(const std::string& path, std::string_view data);
/// Writes to a temporary sibling, fsyncs and renames, so readers see old or new, never half.
void write_file_atomic(const std::string& path, std::string_view data);
/// mkdir -p with the given mode for created folders.
void make_dirs(const std::string& path, unsigned mode = 0755);
bool path_exists(const std::string& path);
/// The folder holding the running executable (to find helper programs beside it).
std::string exe_dir();

/// Opens the regular file `relative` under `root` for reading as a file of the session's
/// would see it: no symlink (nor `..`) may lead out of `root` or anywhere at all, and a FIFO,
/// device or socket is refused, so a session cannot make a root process read or block on a
/// file it planted. Throws SysError (ELOOP, EXDEV, ...) or an Error naming the file.
int open_regular_beneath(const std::string& root, const std::string& relative);

/// Runs a program (no shell), waits, and returns its exit status and combined output.
struct CommandResult {
  int status = -1;
  std::string output;
};
CommandResult run_command(const std::vector<std::string>& argv);

}  // namespace deja
