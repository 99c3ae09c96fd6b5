// File: connectors/generator/generator_source.h
//
// GeneratorSource emits synthetic events (`type: generator`): `count` of them
// (or without end), each with a key chosen round-robin from `keys` keys, the
// creation time as timestamp, and a value written in place into the batch's
// arena: either a distinct `payload_bytes`-byte pattern (the sequence number
// stamped into its first 8 bytes), or the rendering of a `template`
// (connectors/generator/value_template.h). It is the in-memory source of the
// quickstart and the benchmarks: it costs one arena allocation per batch and
// no per-event heap allocation.
//
//   builder.AddProducer("gen", GeneratorSource::Factory({.count = 1'000'000}));
//
//   - name: gen
//     type: generator
//     count: 1000
//     keys: 16
//     rate: 500          # events/s over all instances; 0 = as fast as demand allows
//     template: '{"id": {{seq}}, "user": "{{key}}", "amount": {{random_int:1000}}}'
//
// Pacing (`rate`) never blocks a worker: each call emits what the rate allows
// now (up to a tenth of a second's worth at once) and asks to be woken
// (StageContext::WakeAfter) when the next event is due.
//
// A restarted instance goes on where the crashed one stopped (its progress is
// kept by the factory, as a Kafka source's position is kept by the broker),
// so `count` holds across restarts.
//
// Thread-compatible, like every stage; `concurrency: N` makes N generators
// that split `count` and `rate` between them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

#include "connectors/generator/value_template.h"
#include "pipeline/clock.h"
#include "pipeline/stage.h"
#include "pipeline/token_bucket.h"

namespace sluice::connectors {

struct GeneratorOptions {
  // Events in all (split across instances); 0 means without end.
  // Defaults to 0.
  uint64_t count = 0;
  // Bytes per value without a template. Defaults to 100. REQUIRES: >= 8.
  size_t payload_bytes = 100;
  // Distinct keys, "key-0" ... "key-<keys-1>"; 0 means no key. Defaults to 0.
  uint32_t keys = 0;
  // Events per second over all instances; 0 means as fast as demand allows.
  // Defaults to 0. REQUIRES: >= 0.
  double rate = 0;
  // The YAML `template`: a value template (see value_template.h); empty
  // means the fixed pattern of `payload_bytes` bytes. Defaults to empty.
  std::string value_template;
  // Seeds {{random_int}}. Defaults to 0.
  uint64_t seed = 0;
};

// Where a generator reads the time and asks to be woken, and where it
// keeps its progress across restarts. Defaults: the real clock, no wake-up
// (a rate-limited generator then waits for the next demand), no progress.
struct GeneratorEnvironment {
  const Clock* clock = nullptr;
  std::function<void(absl::Duration)> wake_after;
  // Events this instance emitted so far; outlives the generator.
  std::atomic<uint64_t>* progress = nullptr;
};

class GeneratorSource final : public Producer {
 public:
  // REQUIRES: options valid (Validate() is OK).
  GeneratorSource(GeneratorOptions options, uint32_t instance, uint32_t concurrency,
                  GeneratorEnvironment environment = {});

  // Errors: kInvalidArgument naming the bad option.
  static absl::Status Validate(const GeneratorOptions& options);
  // A factory whose instances use the stage's clock and wake-ups, and keep
  // their progress across restarts. Invalid options fail each factory call.
  static ProducerFactory Factory(GeneratorOptions options);

  absl::Status HandleDemand(size_t demand, ProducerOutput& out) override;

  // Events this instance still has to emit (UINT64_MAX without end).
  uint64_t remaining() const { return remaining_; }

 private:
  void EmitPattern(uint64_t count, int64_t now_us, EventBatch& batch);
  void EmitTemplate(uint64_t count, int64_t now_us, EventBatch& batch);
  std::string_view KeyFor(uint64_t sequence) const {
    return keys_.empty() ? std::string_view() : std::string_view(keys_[sequence % keys_.size()]);
  }

  const GeneratorOptions options_;
  GeneratorEnvironment environment_;
  std::optional<ValueTemplate> template_;
  std::string pattern_;
  std::vector<std::string> keys_;
  size_t max_key_bytes_ = 0;
  // The next sequence number, and the step to the one after: 1 within a
  // share of `count`, the instance count without end (instance i of n takes
  // i, i+n, i+2n, ...).
  uint64_t next_ = 0;
  uint64_t stride_ = 1;
  uint64_t remaining_ = 0;
  uint64_t emitted_ = 0;
  std::optional<TokenBucket> bucket_;
  absl::Time wake_due_ = absl::InfinitePast();
};

}  // namespace sluice::connectors
