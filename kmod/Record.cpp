#include "kmod/Record.h"

#include "base/Error.h"

namespace deja::kmod::image {

void RecordBuilder::varint(uint64_t v) {
  while (v >= 0x80) {
    payload_ += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  payload_ += static_cast<char>(v);
}

RecordBuilder& RecordBuilder::u64(uint32_t field, uint64_t v) {
  varint(uint64_t(field) << 1 | uint64_t(Wire::kVarint));
  varint(v);
  return *this;
}

RecordBuilder& RecordBuilder::i64(uint32_t field, int64_t v) {
  return u64(field, (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

RecordBuilder& RecordBuilder::tail_bytes(uint32_t field, std::string_view v) {
  DEJA_CHECK(tail_.empty());
  varint(uint64_t(field) << 1 | uint64_t(Wire::kBytes));
  varint(v.size());
  last_bytes_offset_ = payload_.size();
  tail_ = v;
  return *this;
}

RecordBuilder& RecordBuilder::bytes(uint32_t field, std::string_view v) {
  DEJA_CHECK(tail_.empty());
  varint(uint64_t(field) << 1 | uint64_t(Wire::kBytes));
  varint(v.size());
  last_bytes_offset_ = payload_.size();
  payload_.append(v);
  return *this;
}

int64_t zigzag_decode(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

namespace {

uint64_t read_varint(std::string_view p, size_t& pos, uint32_t type) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= p.size())
      throw Error("image record type " + std::to_string(type) + ": varint runs past the end");
    uint8_t b = static_cast<uint8_t>(p[pos++]);
    v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  throw Error("image record type " + std::to_string(type) + ": varint longer than 10 bytes");
}

}  // namespace

RecordView::RecordView(uint32_t type, std::string payload)
    : type_(type), payload_(std::move(payload)) {
  parse();
}

RecordView RecordView::borrowing(uint32_t type, std::string_view payload) {
  RecordView r(type, std::string());
  r.borrowed_ = payload;
  r.parse();
  return r;
}

void RecordView::parse() {
  std::string_view p = payload();
  size_t pos = 0;
  while (pos < p.size()) {
    uint64_t key = read_varint(p, pos, type_);
    FieldValue v;
    v.wire = static_cast<Wire>(key & 1);
    uint64_t number = key >> 1;
    if (number == 0 || number > UINT32_MAX)
      throw Error("image record type " + std::to_string(type_) + ": bad field number " +
                  std::to_string(number));
    if (v.wire == Wire::kVarint) {
      v.number = read_varint(p, pos, type_);
    } else {
      uint64_t len = read_varint(p, pos, type_);
      if (len > p.size() - pos)
        throw Error("image record type " + std::to_string(type_) + ": field " +
                    std::to_string(number) + " runs past the end of its record");
      v.offset = pos;
      v.length = len;
      pos += len;
    }
    index_[static_cast<uint32_t>(number)] = fields_.size();
    fields_.emplace_back(static_cast<uint32_t>(number), v);
  }
}

const FieldValue* RecordView::find(uint32_t field, Wire wire) const {
  auto it = index_.find(field);
  if (it == index_.end()) return nullptr;
  const FieldValue& v = fields_[it->second].second;
  if (v.wire != wire)
    throw Error("image record type " + std::to_string(type_) + ": field " + std::to_string(field) +
                " has the wrong wire type");
  return &v;
}

uint64_t RecordView::u64(uint32_t field, uint64_t dflt) const {
  const FieldValue* v = find(field, Wire::kVarint);
  return v ? v->number : dflt;
}

int64_t RecordView::i64(uint32_t field, int64_t dflt) const {
  const FieldValue* v = find(field, Wire::kVarint);
  return v ? zigzag_decode(v->number) : dflt;
}

std::string RecordView::str(uint32_t field) const {
  return std::string(bytes(field));
}

std::string_view RecordView::bytes(uint32_t field) const {
  const FieldValue* v = find(field, Wire::kBytes);
  return v ? bytes_of(*v) : std::string_view();
}

}  // namespace deja::kmod::image
