// File: connectors/generator/generator_source.h
//
// GeneratorSource emits synthetic events: `count` of them (or without end),
// each with a distinct `payload_bytes`-byte value written in place into the
// batch's arena (a fixed pattern with the event's sequence number stamped
// into its first 8 bytes), a key chosen round-robin from `keys` keys, and the
// creation time as timestamp. It is the in-memory source of the quickstart and
// the benchmarks: it costs one arena allocation per batch and no per-event
// heap allocation.
//
//   builder.AddProducer("gen", GeneratorSource::Factory({.count = 1'000'000}));
//
// Thread-compatible, like every stage; `concurrency: N` makes N generators
// that split `count` between them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/stage.h"

namespace sluice::connectors {

struct GeneratorOptions {
  // Events in all (split across instances); 0 means without end.
  // Defaults to 0.
  uint64_t count = 0;
  // Bytes per value. Defaults to 100. REQUIRES: >= 8.
  size_t payload_bytes = 100;
  // Distinct keys, "key-0" ... "key-<keys-1>"; 0 means no key. Defaults to 0.
  uint32_t keys = 0;
};

class GeneratorSource final : public Producer {
 public:
  GeneratorSource(GeneratorOptions options, uint32_t instance, uint32_t concurrency);

  static ProducerFactory Factory(GeneratorOptions options);

  absl::Status HandleDemand(size_t demand, ProducerOutput& out) override;

 private:
  const GeneratorOptions options_;
  std::string pattern_;
  std::vector<std::string> keys_;
  uint64_t next_ = 0;
  uint64_t end_ = 0;  // exclusive; UINT64_MAX without end
};

}  // namespace sluice::connectors
