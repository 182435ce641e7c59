#include "kmod/Crc32c.h"

#include <array>

namespace deja::kmod {
namespace {

// Slicing-by-8 tables for the reflected polynomial 0x82F63B78: eight bytes per step keeps
// checksumming a 1 GiB image well below the cost of reading it.
constexpr std::array<std::array<uint32_t, 256>, 8> make_tables() {
  std::array<std::array<uint32_t, 256>, 8> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i)
    for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  return t;
}

constexpr auto kTables = make_tables();

// Three streams of kStreamBytes each are checksummed at once (below), then joined: the
// register of a stream is moved past the next stream's bytes by multiplying it by
// x^(8 * kStreamBytes) modulo the polynomial, a linear map kept as four byte tables.
constexpr size_t kStreamBytes = 1024;

struct ShiftTables {
  std::array<std::array<uint32_t, 256>, 4> t;
};

const ShiftTables& shift_tables() {
  static const ShiftTables tables = [] {
    std::array<uint32_t, 32> basis{};  // each register bit moved past kStreamBytes zeros
    for (int i = 0; i < 32; ++i) {
      uint32_t c = 1u << i;
      for (size_t k = 0; k < kStreamBytes * 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      basis[i] = c;
    }
    ShiftTables s{};
    for (int k = 0; k < 4; ++k)
      for (uint32_t b = 0; b < 256; ++b)
        for (int i = 0; i < 8; ++i)
          if (b >> i & 1) s.t[k][b] ^= basis[8 * k + i];
    return s;
  }();
  return tables;
}

// The register `c` as it would be after kStreamBytes more zero bytes.
uint32_t shift(uint32_t c, const ShiftTables& s) {
  return s.t[0][c & 0xff] ^ s.t[1][(c >> 8) & 0xff] ^ s.t[2][(c >> 16) & 0xff] ^ s.t[3][c >> 24];
}

// The SSE4.2 crc32 instruction computes exactly this polynomial, about ten times faster
// than the tables; images of a GiB are checksummed twice per checkpoint, and a revive
// checks every page it reads. One instruction's result takes three cycles but a new one can
// start every cycle, so three independent streams run about three times as fast as one.
__attribute__((target("sse4.2"))) uint32_t crc32c_hw(uint32_t crc, const unsigned char* p,
                                                     size_t len) {
  uint64_t c = ~crc;
  if (len >= 3 * kStreamBytes) {
    const ShiftTables& s = shift_tables();
    while (len >= 3 * kStreamBytes) {
      uint64_t c1 = 0, c2 = 0;
      for (size_t i = 0; i < kStreamBytes; i += 8) {
        uint64_t v0, v1, v2;
        __builtin_memcpy(&v0, p + i, 8);
        __builtin_memcpy(&v1, p + kStreamBytes + i, 8);
        __builtin_memcpy(&v2, p + 2 * kStreamBytes + i, 8);
        c = __builtin_ia32_crc32di(c, v0);
        c1 = __builtin_ia32_crc32di(c1, v1);
        c2 = __builtin_ia32_crc32di(c2, v2);
      }
      // CRC registers are linear: the whole is the first moved past the second, the second's
      // own, the sum moved past the third, and the third's own.
      c = shift(shift(static_cast<uint32_t>(c), s) ^ static_cast<uint32_t>(c1), s) ^
          static_cast<uint32_t>(c2);
      p += 3 * kStreamBytes;
      len -= 3 * kStreamBytes;
    }
  }
  while (len >= 8) {
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    len -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (len--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return ~c32;
}

const bool kHaveSse42 = __builtin_cpu_supports("sse4.2");

}  // namespace

uint32_t crc32c_sw(uint32_t crc, const void* data, size_t len) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  while (len >= 8) {
    uint32_t lo =
        crc ^ (uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24);
    crc = kTables[7][lo & 0xff] ^ kTables[6][(lo >> 8) & 0xff] ^ kTables[5][(lo >> 16) & 0xff] ^
          kTables[4][lo >> 24] ^ kTables[3][p[4]] ^ kTables[2][p[5]] ^ kTables[1][p[6]] ^
          kTables[0][p[7]];
    p += 8;
    len -= 8;
  }
  while (len--) crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xff];
  return ~crc;
}

uint32_t crc32c(uint32_t crc, const void* data, size_t len) {
  if (kHaveSse42) return crc32c_hw(crc, static_cast<const unsigned char*>(data), len);
  return crc32c_sw(crc, data, len);
}

}  // namespace deja::kmod
