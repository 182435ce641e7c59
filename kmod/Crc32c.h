// CRC32C (Castagnoli), the checksum of every image record. Table-driven software version:
// images are checksummed once when written and once when read, far from the freeze window.
#pragma once

#include <cstddef>
#include <cstdint>

namespace deja::kmod {

/// Continues a CRC32C over `len` bytes; start with crc = 0.
uint32_t crc32c(uint32_t crc, const void* data, size_t len);

}  // namespace deja::kmod
