#include "connectors/generator/generator_source.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

#include "pipeline/config/stage_registry.h"
#include "pipeline/mutex.h"
#include "pipeline/status_macros.h"

namespace sluice::connectors {
namespace {

constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();
// A rate-limited generator may emit this much of a second's worth at once.
constexpr double kBurstSeconds = 0.1;
// Wake-ups come no closer than this: at high rates each one emits a run.
constexpr absl::Duration kMinWakeInterval = absl::Milliseconds(1);

// How far each instance of one stage got, kept by its factory so that a
// restarted instance goes on from there.
class GeneratorProgress {
 public:
  std::atomic<uint64_t>* ForInstance(uint32_t instance) {
    MutexLock lock(&mu_);
    std::unique_ptr<std::atomic<uint64_t>>& slot = emitted_[instance];
    if (slot == nullptr) slot = std::make_unique<std::atomic<uint64_t>>(0);
    return slot.get();
  }

 private:
  Mutex mu_;
  std::map<uint32_t, std::unique_ptr<std::atomic<uint64_t>>> emitted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

GeneratorSource::GeneratorSource(GeneratorOptions options, uint32_t instance, uint32_t concurrency,
                                 GeneratorEnvironment environment)
    : options_(std::move(options)), environment_(std::move(environment)) {
  if (!options_.value_template.empty()) {
    absl::StatusOr<ValueTemplate> parsed = ValueTemplate::Parse(options_.value_template);
    assert(parsed.ok() && "GeneratorSource: invalid template; call Validate() first");
    if (parsed.ok()) template_ = std::move(*parsed);
  }
  if (!template_) {
    pattern_.assign(options_.payload_bytes, 'x');
    for (size_t i = 0; i < pattern_.size(); ++i) pattern_[i] = static_cast<char>('a' + i % 26);
  }
  for (uint32_t k = 0; k < options_.keys; ++k) {
    keys_.push_back(absl::StrCat("key-", k));
    max_key_bytes_ = std::max(max_key_bytes_, keys_.back().size());
  }
  concurrency = std::max<uint32_t>(1, concurrency);
  if (options_.count == 0) {
    next_ = instance;
    stride_ = concurrency;
    remaining_ = kUnlimited;
  } else {
    // Instance i of n takes the i-th contiguous share.
    const uint64_t share = options_.count / concurrency;
    const uint64_t extra = options_.count % concurrency;
    next_ = instance * share + std::min<uint64_t>(instance, extra);
    remaining_ = share + (instance < extra ? 1 : 0);
  }
  if (environment_.progress != nullptr) {
    // A restart: go on after what the crashed instance emitted.
    emitted_ = environment_.progress->load(std::memory_order_relaxed);
    next_ += emitted_ * stride_;
    if (remaining_ != kUnlimited) remaining_ -= std::min(remaining_, emitted_);
  }
  if (options_.rate > 0) {
    const double rate = options_.rate / concurrency;
    const Clock& clock = environment_.clock != nullptr ? *environment_.clock : RealClock::Get();
    bucket_.emplace(rate, std::max(1.0, rate * kBurstSeconds), clock.Now());
  }
}

absl::Status GeneratorSource::Validate(const GeneratorOptions& options) {
  if (options.rate < 0 || !(options.rate == options.rate)) {
    return absl::InvalidArgumentError("generator: rate must be >= 0");
  }
  if (!options.value_template.empty()) {
    return ValueTemplate::Parse(options.value_template).status();
  }
  if (options.payload_bytes < 8) {
    return absl::InvalidArgumentError("generator: payload_bytes must be at least 8");
  }
  return absl::OkStatus();
}

ProducerFactory GeneratorSource::Factory(GeneratorOptions options) {
  auto progress = std::make_shared<GeneratorProgress>();
  return [options = std::move(options),
          progress](const StageContext& context) -> absl::StatusOr<std::unique_ptr<Producer>> {
    SLUICE_RETURN_IF_ERROR(Validate(options));
    GeneratorEnvironment environment;
    environment.clock = &context.clock();
    environment.wake_after = [&context](absl::Duration delay) { context.WakeAfter(delay); };
    environment.progress = progress->ForInstance(context.instance());
    return std::make_unique<GeneratorSource>(options, context.instance(), context.concurrency(),
                                             std::move(environment));
  };
}

absl::Status GeneratorSource::HandleDemand(size_t demand, ProducerOutput& out) {
  uint64_t count = std::min<uint64_t>(demand, remaining_);
  int64_t now_us = 0;
  if (environment_.clock != nullptr) {
    const absl::Time now = environment_.clock->Now();
    now_us = absl::ToUnixMicros(now);
    if (bucket_.has_value() && count > 0) {
      count = std::min(count, bucket_->Available(now));
      bucket_->Take(count);
      // Demand left that the rate holds back: ask to be woken when the next
      // event is due, unless a wake-up is already on its way.
      if (count < std::min<uint64_t>(demand, remaining_) && environment_.wake_after &&
          now >= wake_due_) {
        const absl::Duration delay = std::max(kMinWakeInterval, bucket_->TimeUntilNext(now));
        wake_due_ = now + delay;
        environment_.wake_after(delay);
      }
    }
  } else {
    now_us = absl::GetCurrentTimeNanos() / 1000;
    if (bucket_.has_value()) {
      const absl::Time now = absl::FromUnixMicros(now_us);
      count = std::min(count, bucket_->Available(now));
      bucket_->Take(count);
    }
  }
  if (count > 0) {
    EventBatch& batch = out.batch();
    batch.reserve(batch.size() + count);
    if (template_) {
      EmitTemplate(count, now_us, batch);
    } else {
      EmitPattern(count, now_us, batch);
    }
    if (remaining_ != kUnlimited) remaining_ -= count;
    emitted_ += count;
    if (environment_.progress != nullptr)
      environment_.progress->store(emitted_, std::memory_order_relaxed);
  }
  if (remaining_ == 0) out.Finish();
  return absl::OkStatus();
}

void GeneratorSource::EmitPattern(uint64_t count, int64_t now_us, EventBatch& batch) {
  const size_t bytes = options_.payload_bytes;
  // Payloads are allocated a pooled arena chunk's worth at a time: one
  // allocation per ~650 events of 100 bytes, never one larger than a chunk.
  const uint64_t per_chunk = std::max<uint64_t>(1, Arena::kChunkBytes / bytes);
  for (uint64_t done = 0; done < count;) {
    const uint64_t run = std::min(per_chunk, count - done);
    char* memory = batch.Allocate(bytes * run).data();
    for (uint64_t n = 0; n < run; ++n) {
      char* value = memory + n * bytes;
      std::memcpy(value, pattern_.data(), bytes);
      const uint64_t sequence = next_;
      next_ += stride_;
      std::memcpy(value, &sequence, sizeof(sequence));  // distinct payloads
      EventFields fields;
      fields.value = std::string_view(value, bytes);
      fields.key = KeyFor(sequence);
      fields.timestamp_us = now_us;
      batch.AppendView(fields);
    }
    done += run;
  }
}

void GeneratorSource::EmitTemplate(uint64_t count, int64_t now_us, EventBatch& batch) {
  // Values are rendered back to back into runs of a chunk's worth of their
  // largest size; only a run's unused tail is wasted.
  const size_t max_bytes = std::max<size_t>(1, template_->max_bytes(max_key_bytes_));
  const uint64_t per_chunk = std::max<uint64_t>(1, Arena::kChunkBytes / max_bytes);
  for (uint64_t done = 0; done < count;) {
    const uint64_t run = std::min(per_chunk, count - done);
    char* cursor = batch.Allocate(max_bytes * run).data();
    for (uint64_t n = 0; n < run; ++n) {
      const uint64_t sequence = next_;
      next_ += stride_;
      EventFields fields;
      fields.key = KeyFor(sequence);
      fields.timestamp_us = now_us;
      const size_t size = template_->Render(
          {.seq = sequence, .key = fields.key, .timestamp_us = now_us, .seed = options_.seed},
          cursor);
      fields.value = std::string_view(cursor, size);
      cursor += size;
      batch.AppendView(fields);
    }
    done += run;
  }
}

// ---------------------------------------------------------------------------
// Registration: `type: generator`

namespace {

ProducerFactory MakeGenerator(StageTypeContext& context) {
  OptionReader& options = context.options;
  GeneratorOptions generator;
  generator.count = static_cast<uint64_t>(options.Int("count", 0).value_or(0));
  const bool has_payload_bytes = options.has("payload_bytes");
  if (std::optional<uint64_t> bytes = options.Bytes("payload_bytes")) {
    if (*bytes < 8 || *bytes > Arena::kChunkBytes * 256) {
      options.Error("payload_bytes", "must be between 8 and 16MiB");
    } else {
      generator.payload_bytes = *bytes;
    }
  }
  generator.keys = static_cast<uint32_t>(
      options.Int("keys", 0, std::numeric_limits<uint32_t>::max()).value_or(0));
  generator.rate = options.Double("rate", 0).value_or(0);
  generator.seed = static_cast<uint64_t>(options.Int("seed", 0).value_or(0));
  if (std::optional<std::string> text = options.String("template")) {
    if (has_payload_bytes) {
      options.Error("template", "set payload_bytes or template, not both");
    } else if (absl::Status parsed = ValueTemplate::Parse(*text).status(); !parsed.ok()) {
      options.Error("template", std::string_view(parsed.message().data(), parsed.message().size()));
    } else if (text->empty()) {
      options.Error("template", "must not be empty");
    } else {
      generator.value_template = std::move(*text);
    }
  }
  if (options.failed()) return nullptr;
  return GeneratorSource::Factory(std::move(generator));
}

}  // namespace

SLUICE_REGISTER_PRODUCER("generator", MakeGenerator);

}  // namespace sluice::connectors
