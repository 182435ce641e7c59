// The retention policy options gc and the daemon share: --keep-all, --keep-minutely and
// --keep-hourly (durations such as 90s, 30m, 1h, 2d).
#pragma once

#include "cli/Args.h"
#include "recorder/Retention.h"

namespace deja::cli {

/// The option names, for an Args declaration.
inline constexpr const char* kRetentionOptions[] = {"keep-all", "keep-minutely", "keep-hourly"};

/// The policy the options give (defaults for those not given); a clear Error when the ages
/// are out of order.
recorder::RetentionPolicy retention_policy(const Args& args);

}  // namespace deja::cli
