// Shared formatting for command output: times and session/checkpoint references.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace deja::cli {

/// ISO-8601 UTC with milliseconds, e.g. 2026-11-21T23:05:00.123Z.
std::string iso_time(double unix_seconds);
/// Parses an ISO-8601 UTC time (…Z); nullopt when `text` is not one. `precision`, when
/// given, receives the length of the unit the text names (1 s, or 0.001 s for .123).
std::optional<double> parse_iso_time(const std::string& text, double* precision = nullptr);

/// SESSION, SESSION:CRID or SESSION@T as typed by the user.
struct SessionRef {
  std::string session;
  std::optional<uint64_t> crid;
  std::optional<double> seconds;    // @T as seconds since the session started
  std::optional<double> unix_time;  // @T as an ISO time, at the end of the unit it names
};
SessionRef parse_session_ref(const std::string& text);

}  // namespace deja::cli
