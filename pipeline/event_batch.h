// File: pipeline/event_batch.h
//
// An EventBatch is the unit that moves between stages: a run of Events plus
// the memory their bytes live in. Events are views, so the batch owns (or
// retains) every byte they point at:
//
//   * its own Arena, filled by whoever built the batch (a generator writing
//     payloads in place, a stage writing a changed value);
//   * foreign buffers it retains by shared ownership (the librdkafka messages
//     a Kafka source wraps, or the memory of an input batch whose events a
//     stage passed on unchanged).
//
// Building a batch costs one Arena (64 KiB chunks) per batch, never one heap
// allocation per event; passing an event on costs a 72-byte Event copy, never a
// payload copy.
//
//   EventBatch batch;
//   absl::Span<char> value = batch.Allocate(100);
//   FillPayload(value);
//   batch.AppendView({.value = {value.data(), value.size()}});
//   batch.Append({.key = "user-7", .value = "copied into the arena"});
//
// Thread-compatible: one owner builds a batch, then moves it on. Once a batch
// has been split or retained by another batch, its memory is read-only.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/types/span.h"

#include "pipeline/event.h"

namespace sluice {

// Append-only memory for a batch's bytes. Chunks are never moved, so a view
// into the arena stays valid for the arena's life.
//
// Thread-compatible.
class Arena {
 public:
  static constexpr size_t kChunkBytes = 64 * 1024;

  Arena() = default;
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Returns `bytes` writable bytes, aligned to 8.
  char* Allocate(size_t bytes);
  // Copies `bytes` into the arena and returns the copy.
  std::string_view Copy(std::string_view bytes);
  // True if `data` points into one of this arena's chunks.
  bool Contains(const void* data) const;
  // Bytes handed out so far.
  size_t allocated_bytes() const { return allocated_bytes_; }

 private:
  struct Chunk {
    std::unique_ptr<char[]> data;
    size_t size = 0;
  };
  std::vector<Chunk> chunks_;
  size_t used_in_last_ = 0;
  size_t allocated_bytes_ = 0;
};

class EventBatch {
 public:
  EventBatch() = default;
  EventBatch(EventBatch&& other) noexcept
      : events_(std::move(other.events_)),
        first_(std::exchange(other.first_, 0)),
        arena_(std::move(other.arena_)),
        retained_(std::move(other.retained_)) {
    other.events_.clear();
  }
  EventBatch& operator=(EventBatch&& other) noexcept {
    events_ = std::move(other.events_);
    other.events_.clear();
    first_ = std::exchange(other.first_, 0);
    arena_ = std::move(other.arena_);
    retained_ = std::move(other.retained_);
    return *this;
  }
  EventBatch(const EventBatch&) = delete;
  EventBatch& operator=(const EventBatch&) = delete;

  size_t size() const { return events_.size() - first_; }
  bool empty() const { return events_.size() == first_; }
  const Event& operator[](size_t i) const { return events_[first_ + i]; }
  const Event* begin() const { return events_.data() + first_; }
  const Event* end() const { return events_.data() + events_.size(); }
  absl::Span<const Event> events() const { return {begin(), size()}; }
  // Sum of key and value sizes: what a rate in bytes counts.
  size_t payload_bytes() const;

  void reserve(size_t events) { events_.reserve(first_ + events); }

  // Returns `bytes` writable bytes in this batch's own arena, for writing a
  // payload in place before AppendView().
  absl::Span<char> Allocate(size_t bytes);
  // Copies `bytes` into this batch's arena.
  std::string_view Copy(std::string_view bytes);
  // Appends an event whose key, value and headers are copied into the arena.
  const Event& Append(const EventFields& fields);
  // Appends an event without copying.
  // REQUIRES: its views point into this batch's arena or retained memory.
  const Event& AppendView(const EventFields& fields) { return events_.emplace_back(fields); }
  const Event& AppendView(const Event& event) {
    events_.push_back(event);
    return events_.back();
  }
  // True if `data` lies in this batch's own arena (a payload written there
  // needs no second copy).
  bool OwnsBytes(const void* data) const;

  // Keeps `owner` alive as long as this batch (or any batch split from or
  // retaining it) lives: a source's buffer that events view.
  void Retain(std::shared_ptr<const void> owner);
  // Keeps all of `other`'s memory alive: its events may now be appended here
  // with AppendView().
  void RetainMemoryOf(const EventBatch& other);

  // Moves the first `count` events into a new batch that shares this batch's
  // memory. REQUIRES: count <= size().
  EventBatch TakeFront(size_t count);
  // Moves the last `count` events into a new batch sharing this memory.
  // REQUIRES: count <= size().
  EventBatch TakeBack(size_t count);

  // Mutable access for the runtime (attempt counts, origins).
  Event& mutable_event(size_t i) { return events_[first_ + i]; }
  void set_attempts(size_t i, uint32_t attempts) { events_[first_ + i].attempts_ = attempts; }
  void set_origin(size_t i, Origin origin) { events_[first_ + i].origin_ = origin; }

 private:
  Arena& arena();

  // The batch's events are events_[first_...]: TakeFront() moves first_ on
  // instead of shifting what is left, so splitting a large batch into chunks
  // costs the chunks, not the batch each time.
  std::vector<Event> events_;
  size_t first_ = 0;
  std::shared_ptr<Arena> arena_;
  absl::InlinedVector<std::shared_ptr<const void>, 2> retained_;
};

}  // namespace sluice
