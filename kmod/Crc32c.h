// CRC32C (Castagnoli), the checksum of every image record.
#pragma once

#include <cstddef>
#include <cstdint>

namespace deja::kmod {

/// Continues a CRC32C over `len` bytes; start with crc = 0. Uses the SSE4.2 instruction
/// when the CPU has it.
uint32_t crc32c(uint32_t crc, const void* data, size_t len);
/// The portable table version (what crc32c falls back to), exposed for tests.
uint32_t crc32c_sw(uint32_t crc, const void* data, size_t len);

}  // namespace deja::kmod
