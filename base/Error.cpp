#include "base/Error.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace deja {

static std::string format_sys(std::string_view syscall, std::string_view object, int err) {
  std::string m(syscall);
  if (!object.empty()) {
    m += " ";
    m += object;
  }
  m += ": ";
  m += std::strerror(err);
  return m;
}

SysError::SysError(std::string_view syscall, std::string_view object, int err)
    : Error(format_sys(syscall, object, err)), err_(err) {}

void throw_errno(std::string_view syscall, std::string_view object, int err) {
  throw SysError(syscall, object, err);
}

void fatal(std::string_view what) {
  std::fprintf(stderr, "deja: internal error: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

}  // namespace deja
