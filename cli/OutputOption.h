// `-o FILE`, the one short option of the commands that write a file (frame, export).
// Args knows only long options, so it is spelled --output for it.
#pragma once

#include <string>
#include <vector>

#include "base/Error.h"
#include "cli/Args.h"

namespace deja::cli {

inline std::vector<std::string> long_output_option(std::vector<std::string> words) {
  for (auto& w : words) {
    if (w == "--") break;
    if (w == "-o") w = "--output";
  }
  return words;
}

/// The --output/-o value, or an Error naming what is missing.
inline std::string output_option(const Args& args, const char* what) {
  auto out = args.option("output");
  if (!out || out->empty()) throw Error(std::string("missing -o ") + what);
  return *out;
}

}  // namespace deja::cli
