// File: pipeline/source_probe.h
//
// A SourceProbe lets the operations endpoint (tools/ops/, docs/metrics.md)
// look into a source stage that the runtime cannot see into: whether it
// reaches its brokers, where each of its partitions stands (committed offset,
// lag, paused), and hold one partition paused on an operator's request. The
// runtime knows nothing of Kafka; a stage type that has such state registers
// a probe while the config is loaded (StageTypeContext::probes), and the
// endpoint reads every registered probe on each scrape or readiness check.
//
//   // In a stage type's maker:
//   if (context.probes != nullptr) {
//     context.probes->Add(std::string(context.stage_name), std::make_shared<MyProbe>(state));
//   }
//
// Implementation rules for probes:
//   - Every method may be called from any thread, at any time, also before
//     the stage has started and after it stopped (report nothing then); they
//     must be quick (a lock and a copy, no I/O).
//   - A probe outlives the stage instances it describes: keep what they
//     publish in an object both share (the Kafka source's KafkaSourceMonitor).
//
// Thread-safe: SourceProbeRegistry's Add() is called while the config is
// loaded, on one thread; reads may come from any thread afterwards.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace sluice {

// One partition a source instance reads.
struct ProbePartition {
  std::string topic;
  int32_t partition = 0;
  // The last committed offset (the next to read); nullopt before the first.
  std::optional<int64_t> committed;
  // Messages after the committed offset; nullopt when unknown.
  std::optional<int64_t> lag;
  // How long the oldest event emitted and not done yet has been in flight.
  absl::Duration oldest_in_flight_age;
  // Fetching is paused (a full buffer, or held by an operator).
  bool paused = false;
};

// One instance of a probed source.
struct ProbeInstance {
  uint32_t instance = 0;
  // Reaches its brokers (readiness). False before it first connected.
  bool connected = false;
  std::vector<ProbePartition> partitions;
};

// A partition an operator holds paused (PausePartition()).
struct HeldPartition {
  std::string topic;
  int32_t partition = 0;
};

class SourceProbe {
 public:
  virtual ~SourceProbe() = default;
  // What every instance made so far says now.
  virtual std::vector<ProbeInstance> instances() const = 0;
  // Holds `topic`/`partition` paused until ResumePartition(), whatever the
  // source's own flow control would do, in whichever instance reads it now
  // or later. Errors: kUnimplemented if the source cannot pause.
  virtual absl::Status PausePartition(std::string_view topic, int32_t partition) = 0;
  // Errors: kNotFound if it was not held.
  virtual absl::Status ResumePartition(std::string_view topic, int32_t partition) = 0;
  virtual std::vector<HeldPartition> held() const = 0;
};

class SourceProbeRegistry {
 public:
  struct Entry {
    std::string stage;
    std::shared_ptr<SourceProbe> probe;
  };

  void Add(std::string stage, std::shared_ptr<SourceProbe> probe) {
    entries_.push_back({std::move(stage), std::move(probe)});
  }
  const std::vector<Entry>& entries() const { return entries_; }
  // The probe of `stage`, or null.
  SourceProbe* Find(std::string_view stage) const {
    for (const Entry& entry : entries_) {
      if (entry.stage == stage) return entry.probe.get();
    }
    return nullptr;
  }

 private:
  std::vector<Entry> entries_;
};

}  // namespace sluice
