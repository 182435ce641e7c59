// Errors that name what failed: the operation (often a syscall), the object it was
// applied to, and the errno text, so a user reading one line knows what to fix.
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>
#include <string_view>

namespace deja {

/// A failure the user can act on. The message is one line, ready for stderr.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// A failed system call: keeps errno so callers can react to ENOENT, EBUSY, ENOSPC.
class SysError : public Error {
 public:
  SysError(std::string_view syscall, std::string_view object, int err);
  int err() const { return err_; }

 private:
  int err_;
};

/// Throws SysError for `syscall` on `object` with the current (or given) errno.
[[noreturn]] void throw_errno(std::string_view syscall, std::string_view object, int err = errno);

/// Aborts the program: a broken invariant is a bug, in release builds too.
[[noreturn]] void fatal(std::string_view what);

#define DEJA_CHECK(cond)                                           \
  do {                                                             \
    if (!(cond)) ::deja::fatal(__FILE__ ": check failed: " #cond); \
  } while (0)

}  // namespace deja
