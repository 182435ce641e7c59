// Wall-clock time as the catalog stores it: Unix seconds with a fractional part.
#pragma once

#include <chrono>

namespace deja {

inline double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace deja
