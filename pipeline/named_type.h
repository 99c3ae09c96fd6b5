// File: pipeline/named_type.h
//
// NamedType wraps a number so that values of different meaning cannot be
// swapped by accident: `Commit(Partition p, Offset o)` rejects
// `Commit(offset, partition)` at compile time (as Redpanda's
// `model::partition_id`).
//
//   Partition partition{3};
//   Offset next = Offset{41} + 1;
//
// Immutable value type.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace sluice {

template <typename Tag, typename T>
class NamedType {
 public:
  using value_type = T;

  constexpr NamedType() = default;
  constexpr explicit NamedType(T value) : value_(value) {}

  constexpr T value() const { return value_; }

  constexpr auto operator<=>(const NamedType&) const = default;

  constexpr NamedType operator+(T delta) const { return NamedType(value_ + delta); }
  constexpr NamedType operator-(T delta) const { return NamedType(value_ - delta); }

  template <typename H>
  friend H AbslHashValue(H hash, NamedType named) {
    return H::combine(std::move(hash), named.value_);
  }

 private:
  T value_{};
};

// A Kafka-style partition number within one source.
using Partition = NamedType<struct PartitionTag, int32_t>;
// A position within a partition; the next offset to read is `last + 1`.
using Offset = NamedType<struct OffsetTag, int64_t>;
// Names one producer instance of a running pipeline; index into its ack table.
using SourceId = NamedType<struct SourceIdTag, uint32_t>;

}  // namespace sluice
