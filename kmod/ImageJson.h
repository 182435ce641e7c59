// Decodes any image to JSON, in the spirit of CRIU's crit: every record with its fields
// named by the schema table. Used by `deja image show`.
#pragma once

#include <string>

namespace deja::kmod {

/// Reads the image on `fd` and returns it as one JSON document; throws deja::Error when the
/// image is damaged (nothing is printed for a damaged image).
std::string image_to_json(int fd, const std::string& name);

}  // namespace deja::kmod
