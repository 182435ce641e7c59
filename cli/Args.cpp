#include "cli/Args.h"

#include <cstdlib>

#include "base/Error.h"

namespace deja::cli {

Args::Args(std::vector<std::string> words, std::set<std::string> flags,
           std::set<std::string> options) {
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "--") {
      rest_.assign(words.begin() + static_cast<long>(i) + 1, words.end());
      return;
    }
    if (w == "--help" || w == "-h") {
      help_ = true;
      continue;
    }
    if (w.size() > 2 && w.rfind("--", 0) == 0) {
      std::string name = w.substr(2), value;
      bool inline_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      if (flags.count(name) && !inline_value) {
        flags_.insert(name);
      } else if (options.count(name)) {
        if (!inline_value) {
          if (i + 1 >= words.size()) throw Error("option --" + name + " needs a value");
          value = words[++i];
        }
        options_[name].push_back(value);
      } else {
        throw Error("unknown option --" + name + " (see --help)");
      }
      continue;
    }
    positionals_.push_back(w);
  }
}

std::optional<std::string> Args::option(const std::string& name) const {
  auto it = options_.find(name);
  if (it == options_.end()) return std::nullopt;
  return it->second.back();  // given twice, the last one counts
}

std::vector<std::string> Args::options(const std::string& name) const {
  auto it = options_.find(name);
  return it == options_.end() ? std::vector<std::string>{} : it->second;
}

const std::string& Args::one_positional(const std::string& what) const {
  if (positionals_.empty()) throw Error("missing " + what + " (see --help)");
  if (positionals_.size() > 1)
    throw Error("unexpected argument '" + positionals_[1] + "' (see --help)");
  return positionals_[0];
}

std::optional<double> Args::number_option(const std::string& name) const {
  auto v = option(name);
  if (!v) return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || d < 0)
    throw Error("--" + name + " needs a non-negative number, got '" + *v + "'");
  return d;
}

}  // namespace deja::cli
