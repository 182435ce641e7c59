// Each image record's fields, defined once: a table of (number, name, how JSON shows it, which
// member of the in-memory struct) drives the writer, the reader and `deja image show`.
//
//   constexpr Field<PipeState> kPipeFields[] = {
//       field<&PipeState::id>(pipe::kId, "id"),
//       field<&PipeState::path>(pipe::kPath, "fifo_path"),
//   };
//   write_fields(builder, kPipeFields, pipe);   read_fields(view, kPipeFields, pipe);
//
// Members of nested structs are named by their path: field<&ProcessState::mm,
// &MmLayout::brk>(...). A field the codec writes itself (the owning process's pid) has no
// member: owner_field(number, name).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "kmod/ImageFormat.h"
#include "kmod/Record.h"
#include "kmod/Types.h"

namespace deja::kmod::image {

template <class T>
struct Field {
  FieldSpec spec;
  void (*write)(RecordBuilder&, uint32_t number, const T&) = nullptr;  // null: codec-owned
  void (*read)(const RecordView&, uint32_t number, T&) = nullptr;
};

namespace detail {

template <class M>
struct MemberOf;
template <class C, class V>
struct MemberOf<V C::*> {
  using Owner = C;
  using Value = V;
};

template <auto First, auto... Rest>
struct OwnerOfPath {
  using type = typename MemberOf<decltype(First)>::Owner;
};

template <class V>
constexpr FieldKind default_kind() {
  if constexpr (std::is_same_v<V, std::string>) return FieldKind::kString;
  else if constexpr (std::is_same_v<V, VPid> || std::is_same_v<V, HostPid>) return FieldKind::kInt;
  else if constexpr (std::is_enum_v<V> || std::is_same_v<V, bool> || std::is_same_v<V, Crid>)
    return FieldKind::kUint;
  else if constexpr (std::is_signed_v<V>) return FieldKind::kInt;
  else return FieldKind::kUint;
}

template <class V>
void put(RecordBuilder& b, uint32_t n, const V& v) {
  if constexpr (std::is_same_v<V, std::string>) b.bytes(n, v);
  else if constexpr (std::is_same_v<V, VPid> || std::is_same_v<V, HostPid>) b.i64(n, v.value);
  else if constexpr (std::is_same_v<V, Crid>) b.u64(n, v.value);
  else if constexpr (std::is_enum_v<V>) b.u64(n, static_cast<uint64_t>(v));
  else if constexpr (std::is_same_v<V, bool>) b.u64(n, v ? 1 : 0);
  else if constexpr (std::is_signed_v<V>) b.i64(n, v);
  else b.u64(n, v);
}

template <class V>
void get(const RecordView& r, uint32_t n, V& v) {
  if constexpr (std::is_same_v<V, std::string>) v = r.str(n);
  else if constexpr (std::is_same_v<V, VPid> || std::is_same_v<V, HostPid>)
    v.value = static_cast<pid_t>(r.i64(n, v.value));
  else if constexpr (std::is_same_v<V, Crid>) v.value = r.u64(n, v.value);
  else if constexpr (std::is_enum_v<V>)
    v = static_cast<V>(r.u64(n, static_cast<uint64_t>(v)));
  else if constexpr (std::is_same_v<V, bool>) v = r.u64(n, v) != 0;
  else if constexpr (std::is_signed_v<V>) v = static_cast<V>(r.i64(n, v));
  else v = static_cast<V>(r.u64(n, v));
}

template <auto... Path, class T>
auto& member(T& o) {
  return (o .* ... .* Path);
}

}  // namespace detail

/// A field stored in member `Path...` of the record's struct. An absent field leaves the
/// member at its default, so fields added later read as their default from older images.
template <auto... Path>
constexpr auto field(uint32_t number, std::string_view name) {
  using T = typename detail::OwnerOfPath<Path...>::type;
  using V = std::remove_cvref_t<decltype(detail::member<Path...>(std::declval<T&>()))>;
  return Field<T>{{number, name, detail::default_kind<V>()},
                  [](RecordBuilder& b, uint32_t n, const T& o) {
                    detail::put(b, n, detail::member<Path...>(o));
                  },
                  [](const RecordView& r, uint32_t n, T& o) {
                    detail::get(r, n, detail::member<Path...>(o));
                  }};
}

/// The same, shown as `kind` by the JSON decoder (kHex for addresses, kBytes, kBlob).
template <auto... Path>
constexpr auto field(uint32_t number, std::string_view name, FieldKind kind) {
  auto f = field<Path...>(number, name);
  f.spec.kind = kind;
  return f;
}

/// A field the codec writes and reads itself (the owning process's pid, an object id that
/// groups records): listed for the JSON decoder only.
template <class T>
constexpr Field<T> owner_field(uint32_t number, std::string_view name,
                               FieldKind kind = FieldKind::kInt) {
  return Field<T>{{number, name, kind}, nullptr, nullptr};
}

template <class T>
void write_fields(RecordBuilder& b, std::span<const Field<T>> fields, const T& o) {
  for (const Field<T>& f : fields)
    if (f.write) f.write(b, f.spec.number, o);
}

template <class T>
void read_fields(const RecordView& r, std::span<const Field<T>> fields, T& o) {
  for (const Field<T>& f : fields)
    if (f.read) f.read(r, f.spec.number, o);
}

}  // namespace deja::kmod::image
