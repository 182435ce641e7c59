#include "cli/Format.h"

#include <cmath>
#include <cstdio>
#include <ctime>

#include "base/Error.h"

namespace deja::cli {

std::string iso_time(double unix_seconds) {
  time_t secs = static_cast<time_t>(std::floor(unix_seconds));
  int ms = static_cast<int>((unix_seconds - static_cast<double>(secs)) * 1000);
  tm utc{};
  ::gmtime_r(&secs, &utc);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ms);
  return buf;
}

std::optional<double> parse_iso_time(const std::string& text, double* precision) {
  tm utc{};
  double frac = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &utc.tm_year, &utc.tm_mon,
                  &utc.tm_mday, &utc.tm_hour, &utc.tm_min, &utc.tm_sec, &consumed) != 6)
    return std::nullopt;
  std::string rest = text.substr(static_cast<size_t>(consumed));
  double unit = 1;
  if (!rest.empty() && rest[0] == '.') {
    size_t end = rest.find_first_not_of("0123456789", 1);
    frac = std::stod("0" + rest.substr(0, end));
    unit = std::pow(10.0, -static_cast<double>((end == std::string::npos ? rest.size() : end) - 1));
    rest = end == std::string::npos ? "" : rest.substr(end);
  }
  if (precision) *precision = unit;
  if (rest != "Z") return std::nullopt;
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  return static_cast<double>(::timegm(&utc)) + frac;
}

SessionRef parse_session_ref(const std::string& text) {
  SessionRef ref;
  auto at = text.find('@');
  auto colon = text.find(':');
  if (at != std::string::npos && (colon == std::string::npos || at < colon)) {
    ref.session = text.substr(0, at);
    std::string t = text.substr(at + 1);
    double unit = 0;
    if (auto iso = parse_iso_time(t, &unit)) {
      // A time as deja prints it (to the millisecond) names that whole millisecond, so
      // the checkpoint listed at that time is at or before it.
      ref.unix_time = *iso + unit * 0.999999;
    } else {
      char* end = nullptr;
      double s = std::strtod(t.c_str(), &end);
      if (t.empty() || *end != '\0' || s < 0)
        throw Error("bad time '" + t + "' in " + text +
                    ": use seconds since the session started (@12.5) or ISO-8601 UTC "
                    "(@2026-11-21T23:05:00Z)");
      ref.seconds = s;
    }
  } else if (colon != std::string::npos) {
    ref.session = text.substr(0, colon);
    std::string c = text.substr(colon + 1);
    char* end = nullptr;
    unsigned long long v = std::strtoull(c.c_str(), &end, 10);
    if (c.empty() || *end != '\0') throw Error("bad CRID '" + c + "' in " + text);
    ref.crid = v;
  } else {
    ref.session = text;
  }
  if (ref.session.empty()) throw Error("missing session id in '" + text + "'");
  return ref;
}

}  // namespace deja::cli
