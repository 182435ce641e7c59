// The catalog schema as an ordered list of steps. Step N brings user_version N-1 to N.
// Steps are never edited once released; a change is a new step at the end.
#pragma once

#include <string_view>
#include <vector>

namespace deja::db {

const std::vector<std::string_view>& migrations();

}  // namespace deja::db
