// Attaching an image file to a free loop device and mounting it. The loop device is set to
// clear itself when the file system is unmounted, so an unmount leaves nothing behind.
#pragma once

#include <string>

namespace deja::snapshot {

/// Mounts the btrfs image `image` at `mountpoint` through a new auto-clearing loop device.
void loop_mount(const std::string& image, const std::string& mountpoint);
/// True when `path` is the root of a mount (its device differs from its parent's).
bool is_mount_point(const std::string& path);

}  // namespace deja::snapshot
