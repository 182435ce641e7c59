// Command-line parsing for one subcommand: declared options, positionals, and the words
// after `--`. Unknown options are errors that name the option and point to --help.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace deja::cli {

class Args {
 public:
  /// `flags` take no value (--json); `options` take one (--name N).
  Args(std::vector<std::string> words, std::set<std::string> flags, std::set<std::string> options);

  bool flag(const std::string& name) const { return flags_.count(name) != 0; }
  std::optional<std::string> option(const std::string& name) const;
  /// Every value of a repeatable option, in order.
  std::vector<std::string> options(const std::string& name) const;
  const std::vector<std::string>& positionals() const { return positionals_; }
  /// Words after `--`, for commands that run a program.
  const std::vector<std::string>& rest() const { return rest_; }
  bool help() const { return help_; }

  /// The single positional argument, or an error naming `what` is missing.
  const std::string& one_positional(const std::string& what) const;
  /// Parses an option as a number, with an error naming the option when it is not one.
  std::optional<double> number_option(const std::string& name) const;

 private:
  std::set<std::string> flags_;
  std::map<std::string, std::vector<std::string>> options_;
  std::vector<std::string> positionals_;
  std::vector<std::string> rest_;
  bool help_ = false;
};

}  // namespace deja::cli
