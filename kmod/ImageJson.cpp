#include "kmod/ImageJson.h"

#include <cstdio>

#include "base/Json.h"
#include "kmod/Crc32c.h"
#include "kmod/ImageReader.h"

namespace deja::kmod {

using namespace image;

namespace {

std::string hex_u64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string hex_bytes(std::string_view b) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(b.size() * 2);
  for (unsigned char c : b) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

void field_value(JsonWriter& j, const RecordView& r, const FieldValue& v, FieldKind kind) {
  if (v.wire == Wire::kVarint) {
    switch (kind) {
      case FieldKind::kInt:
        j.value(zigzag_decode(v.number));
        return;
      case FieldKind::kHex:
        j.value(hex_u64(v.number));
        return;
      default:
        j.value(v.number);
        return;
    }
  }
  std::string_view b = r.bytes_of(v);
  switch (kind) {
    case FieldKind::kString:
      j.value(b);
      return;
    case FieldKind::kBlob:
      // Page data is summarised: its size and checksum identify it without megabytes of hex.
      j.begin_object()
          .field("bytes", static_cast<uint64_t>(b.size()))
          .field("crc32c", hex_u64(crc32c(0, b.data(), b.size())))
          .end_object();
      return;
    default:
      j.value(hex_bytes(b));
      return;
  }
}

}  // namespace

std::string image_to_json(int fd, const std::string& name) {
  ImageReader reader(fd, name);
  JsonWriter j;
  j.begin_object();
  j.key("header")
      .begin_object()
      .field("magic", "DEJAIMG")
      .field("version", reader.header().version)
      .field("crid", reader.header().crid.value)
      .field("parent_crid", reader.header().parent.value)
      .field("flags", hex_u64(reader.header().flags))
      .end_object();
  j.key("records").begin_array();
  while (auto rec = reader.next()) {
    const RecordSpec* spec = find_record_spec(rec->type());
    j.begin_object();
    if (spec)
      j.field("type", spec->name);
    else
      j.field("type", rec->type()).field("unknown_type", true);
    // Where the payload starts in the file; a pageref's own `offset` is a field.
    j.field("payload_offset", reader.last_payload_offset());
    for (const auto& [number, v] : rec->fields()) {
      const FieldSpec* fs = nullptr;
      if (spec)
        for (const FieldSpec& f : spec->fields)
          if (f.number == number) fs = &f;
      if (fs) {
        j.key(fs->name);
        field_value(j, *rec, v, fs->kind);
      } else {
        j.key("field_" + std::to_string(number));
        field_value(j, *rec, v, v.wire == Wire::kVarint ? FieldKind::kUint : FieldKind::kBytes);
      }
    }
    j.end_object();
  }
  j.end_array();
  j.end_object();
  return j.str();
}

}  // namespace deja::kmod
