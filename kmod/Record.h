// One image record's payload: a sequence of (field number, value) pairs in a protobuf-like
// encoding (varint key = number << 1 | wire; varints, or length-prefixed bytes). Readers
// skip fields they do not know, so the schema can grow without a version bump.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kmod/ImageFormat.h"

namespace deja::kmod::image {

/// Builds a payload field by field.
class RecordBuilder {
 public:
  explicit RecordBuilder(RecordType type) : type_(type) {}

  RecordBuilder& u64(uint32_t field, uint64_t v);
  RecordBuilder& i64(uint32_t field, int64_t v);  // zigzag, so small negatives stay small
  RecordBuilder& bytes(uint32_t field, std::string_view v);
  /// A bytes field that must come last and is not copied: the writer streams it straight
  /// from `v`, which must outlive the write. For page data.
  RecordBuilder& tail_bytes(uint32_t field, std::string_view v);
  /// Offset of the most recent bytes() value inside the payload (page refs point there).
  size_t last_bytes_offset() const { return last_bytes_offset_; }

  RecordType type() const { return type_; }
  /// The payload is head() followed by tail().
  const std::string& head() const { return payload_; }
  std::string_view tail() const { return tail_; }
  size_t size() const { return payload_.size() + tail_.size(); }

 private:
  void varint(uint64_t v);
  RecordType type_;
  std::string payload_;
  std::string_view tail_;
  size_t last_bytes_offset_ = 0;
};

/// A decoded field: either a varint or a byte string, kept as a span of the payload
/// (offsets, not pointers, so a RecordView can be moved freely).
struct FieldValue {
  Wire wire = Wire::kVarint;
  uint64_t number = 0;
  size_t offset = 0;
  size_t length = 0;
};

/// Parses a payload; throws deja::Error on malformed encoding. Later duplicates of a field
/// win, as in protobuf.
class RecordView {
 public:
  RecordView(uint32_t type, std::string payload);
  /// A view of a payload kept elsewhere (a mapped image), which must outlive the view.
  static RecordView borrowing(uint32_t type, std::string_view payload);

  uint32_t type() const { return type_; }
  std::string_view payload() const { return borrowed_ ? *borrowed_ : std::string_view(payload_); }
  bool borrowed() const { return borrowed_.has_value(); }
  /// Fields in payload order, for the JSON decoder.
  const std::vector<std::pair<uint32_t, FieldValue>>& fields() const { return fields_; }

  bool has(uint32_t field) const { return index_.count(field) != 0; }
  uint64_t u64(uint32_t field, uint64_t dflt = 0) const;
  int64_t i64(uint32_t field, int64_t dflt = 0) const;
  std::string str(uint32_t field) const;
  std::string_view bytes(uint32_t field) const;
  std::string_view bytes_of(const FieldValue& v) const {
    return payload().substr(v.offset, v.length);
  }

 private:
  void parse();
  const FieldValue* find(uint32_t field, Wire wire) const;
  uint32_t type_;
  std::string payload_;
  std::optional<std::string_view> borrowed_;  // instead of payload_
  std::vector<std::pair<uint32_t, FieldValue>> fields_;
  std::map<uint32_t, size_t> index_;
};

int64_t zigzag_decode(uint64_t v);

}  // namespace deja::kmod::image
