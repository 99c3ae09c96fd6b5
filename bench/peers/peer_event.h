// File: bench/peers/peer_event.h
//
// The workload every peer baseline in bench/peers/ runs, so that the peers and
// sluice's own end-to-end bench measure the same thing: an in-memory
// generator -> map -> sink pipeline of events with distinct 100-byte payloads.
//
//   * generator: FillEvent() copies a 100-byte template into the event and
//     stores the event's 8-byte sequence number into it (bytes 8..15), so no
//     two payloads are equal and the copy cannot be hoisted;
//   * map:       MapEvent() reads the sequence number back out of the payload
//     and a payload byte, and writes a checksum field;
//   * sink:      SinkTotals::Consume() counts the event and sums its checksum
//     and a payload byte, and the bench compares the totals with
//     ExpectedTotals() so neither a lost event nor an elided stage goes unseen.
//
// The per-event work is deliberately a few nanoseconds: the peers measure the
// cost of moving events between stages, not of processing them.
//
//   PeerEvent event;
//   FillEvent(seq, event);
//   MapEvent(event);
//   totals.Consume(event);
//
// Plain functions and values; nothing here is shared between threads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"

namespace sluice::bench::peers {

// Bytes of payload per event; SetBytesProcessed counts these.
inline constexpr int64_t kPayloadBytes = 100;

// One event as a plain struct: the payload inline plus the few fields a real
// event carries. 128 bytes, so a by-value hand-off copies two cache lines.
struct PeerEvent {
  uint64_t sequence = 0;
  int64_t timestamp_us = 0;
  uint32_t partition = 0;
  uint32_t checksum = 0;  // written by the map stage
  std::array<char, kPayloadBytes> payload{};
};
static_assert(sizeof(PeerEvent) == 128);

// A reusable run of events: `events` is sized to capacity once, `size` says how
// many of them the current use filled.
struct PeerBatch {
  explicit PeerBatch(size_t capacity) : events(capacity) {}
  std::vector<PeerEvent> events;
  size_t size = 0;
};

// The 100 bytes every payload starts from: printable, not all equal.
inline constexpr std::array<char, kPayloadBytes> kPayloadTemplate = [] {
  std::array<char, kPayloadBytes> bytes{};
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>('a' + i % 26);
  return bytes;
}();

// Offset of the sequence number inside the payload.
inline constexpr size_t kSequenceOffset = 8;

// Generator: writes event `sequence` into `event` (every field, every byte).
// The timestamp is derived from the sequence rather than read from a clock: a
// clock read per event would cost more than some of the hand-offs measured.
inline void FillEvent(uint64_t sequence, PeerEvent& event) {
  event.sequence = sequence;
  event.timestamp_us = static_cast<int64_t>(sequence);
  event.partition = static_cast<uint32_t>(sequence & 15);
  event.checksum = 0;
  std::memcpy(event.payload.data(), kPayloadTemplate.data(), kPayloadBytes);
  std::memcpy(event.payload.data() + kSequenceOffset, &sequence, sizeof(sequence));
}

// Map: reads the payload and updates a field in place.
inline void MapEvent(PeerEvent& event) {
  uint64_t sequence;
  std::memcpy(&sequence, event.payload.data() + kSequenceOffset, sizeof(sequence));
  event.checksum = static_cast<uint32_t>(sequence * 0x9E3779B97F4A7C15ULL >> 32) ^
                   static_cast<unsigned char>(event.payload[kPayloadBytes - 1]);
}

// Sink: what the last stage keeps of the events it consumed.
struct SinkTotals {
  uint64_t count = 0;
  uint64_t sum = 0;

  void Consume(const PeerEvent& event) {
    ++count;
    sum += event.checksum + static_cast<unsigned char>(event.payload[kSequenceOffset]);
  }
  bool operator==(const SinkTotals&) const = default;
};

// The totals a correct run of events [0, events) must reach, computed on one
// thread with no hand-off. Cheap (tens of ms for 10 M events): call it before
// the timed loop.
inline SinkTotals ExpectedTotals(uint64_t events) {
  SinkTotals totals;
  PeerEvent event;
  for (uint64_t seq = 0; seq < events; ++seq) {
    FillEvent(seq, event);
    MapEvent(event);
    totals.Consume(event);
  }
  return totals;
}

// Checks a timed iteration's totals; on a mismatch the benchmark reports an
// error instead of a number. Returns false on a mismatch.
inline bool CheckTotals(benchmark::State& state, const SinkTotals& got,
                        const SinkTotals& expected) {
  if (got == expected) return true;
  state.SkipWithError(got.count != expected.count ? "sink saw the wrong number of events"
                                                  : "sink checksum differs from expected");
  return false;
}

// Counters every peer reports: events and payload bytes across all iterations.
inline void ReportProcessed(benchmark::State& state, int64_t events_per_iteration) {
  state.SetItemsProcessed(state.iterations() * events_per_iteration);
  state.SetBytesProcessed(state.iterations() * events_per_iteration * kPayloadBytes);
}

// Waiting on an empty or full queue: spin briefly, then yield the core. On a
// two-core machine running three stage threads, a pure spin would starve the
// thread being waited for; a yield after ~64 pauses keeps that rare.
class Backoff {
 public:
  void Pause() {
    if (++spins_ <= kSpinsBeforeYield) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
  void Reset() { spins_ = 0; }

 private:
  static constexpr int kSpinsBeforeYield = 64;
  int spins_ = 0;
};

}  // namespace sluice::bench::peers
