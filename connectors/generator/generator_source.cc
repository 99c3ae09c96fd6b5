#include "connectors/generator/generator_source.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace sluice::connectors {

GeneratorSource::GeneratorSource(GeneratorOptions options, uint32_t instance, uint32_t concurrency)
    : options_(options), pattern_(options.payload_bytes, 'x') {
  for (size_t i = 0; i < pattern_.size(); ++i) pattern_[i] = static_cast<char>('a' + i % 26);
  for (uint32_t k = 0; k < options.keys; ++k) keys_.push_back(absl::StrCat("key-", k));
  if (options.count == 0) {
    next_ = instance;
    end_ = std::numeric_limits<uint64_t>::max();
  } else {
    // Instance i of n takes the i-th contiguous share.
    const uint64_t share = options.count / concurrency;
    const uint64_t extra = options.count % concurrency;
    next_ = instance * share + std::min<uint64_t>(instance, extra);
    end_ = next_ + share + (instance < extra ? 1 : 0);
  }
}

ProducerFactory GeneratorSource::Factory(GeneratorOptions options) {
  return [options](const StageContext& context) -> absl::StatusOr<std::unique_ptr<Producer>> {
    if (options.payload_bytes < 8)
      return absl::InvalidArgumentError("generator: payload_bytes must be at least 8");
    return std::make_unique<GeneratorSource>(options, context.instance(), context.concurrency());
  };
}

absl::Status GeneratorSource::HandleDemand(size_t demand, ProducerOutput& out) {
  const uint64_t count = std::min<uint64_t>(demand, end_ - next_);
  if (count > 0) {
    EventBatch& batch = out.batch();
    batch.reserve(batch.size() + count);
    const size_t bytes = options_.payload_bytes;
    const int64_t now_us = absl::GetCurrentTimeNanos() / 1000;
    // Payloads are allocated a pooled arena chunk's worth at a time: one
    // allocation per ~650 events of 100 bytes, never one larger than a chunk.
    const uint64_t per_chunk = std::max<uint64_t>(1, Arena::kChunkBytes / bytes);
    for (uint64_t done = 0; done < count;) {
      const uint64_t run = std::min(per_chunk, count - done);
      char* memory = batch.Allocate(bytes * run).data();
      for (uint64_t n = 0; n < run; ++n) {
        char* value = memory + n * bytes;
        std::memcpy(value, pattern_.data(), bytes);
        const uint64_t sequence = next_++;
        std::memcpy(value, &sequence, sizeof(sequence));  // distinct payloads
        EventFields fields;
        fields.value = std::string_view(value, bytes);
        if (!keys_.empty()) fields.key = keys_[sequence % keys_.size()];
        fields.timestamp_us = now_us;
        batch.AppendView(fields);
      }
      done += run;
    }
  }
  if (next_ >= end_) out.Finish();
  return absl::OkStatus();
}

}  // namespace sluice::connectors
