// The quickstart: an in-memory pipeline built with the C++ API, run to the
// end, with a summary whose numbers add up. (With the Kafka connector it
// becomes `sluice run configs/quickstart.yaml` on the embedded broker.)
//
//   generator (1,000,000 events of 100 bytes, 16 keys)
//     -> validate (drops empty values, fails values that start with '!')
//     -> uppercase (concurrency 2, rewrites each value into its output memory)
//     -> null sink
#include <algorithm>
#include <cctype>
#include <cstdio>

#include "connectors/generator/generator_source.h"
#include "connectors/null/null_sink.h"
#include "pipeline/dead_letter_queue.h"
#include "pipeline/pipeline.h"

namespace {

using namespace sluice;

class UppercaseStage final : public ProducerConsumer {
 public:
  absl::Status HandleEvents(const EventBatch& batch, Output& out) override {
    for (const Event& event : batch) {
      if (event.value().empty()) {
        out.Drop(event);
        continue;
      }
      absl::Span<char> upper = out.Allocate(event.value().size());
      std::transform(event.value().begin(), event.value().end(), upper.begin(), [](char c) {
        return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      });
      out.Emit(event, {.value = std::string_view(upper.data(), upper.size())});
    }
    return absl::OkStatus();
  }
};

const char* RoleName(StageRole role) {
  switch (role) {
    case StageRole::kProducer:
      return "producer";
    case StageRole::kProducerConsumer:
      return "producer_consumer";
    case StageRole::kConsumer:
      return "consumer";
  }
  return "?";
}

}  // namespace

int main() {
  PipelineBuilder builder({.name = "quickstart"});
  builder.AddProducer("generator",
                      connectors::GeneratorSource::Factory({.count = 1'000'000, .keys = 16}));
  builder.AddProducerConsumer(
      "uppercase",
      [](const StageContext&) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
        return std::make_unique<UppercaseStage>();
      },
      {.subscribe = {"generator"}, .concurrency = 2});
  builder.AddConsumer("sink", connectors::NullSink::Factory(), {.subscribe = {"uppercase"}});
  auto pipeline = std::move(builder).Build();
  if (!pipeline.ok()) {
    std::fprintf(stderr, "sluice quickstart: %s\n",
                 std::string(pipeline.status().message()).c_str());
    return 2;
  }
  if (absl::Status started = (*pipeline)->Start(); !started.ok()) {
    std::fprintf(stderr, "sluice quickstart: %s\n", std::string(started.message()).c_str());
    return 1;
  }
  RunReport report = (*pipeline)->Wait();
  const double seconds = absl::ToDoubleSeconds(report.elapsed);
  std::printf("pipeline \"quickstart\" finished in %.3f s: %s\n", seconds,
              report.status.ok() ? "ok" : "FAILED");
  std::printf("%-12s %-18s %4s %10s %10s %8s %8s %8s %9s\n", "stage", "role", "inst", "in", "out",
              "dropped", "failed", "dlq", "restarts");
  for (const StageReport& stage : report.stages) {
    std::printf("%-12s %-18s %4u %10llu %10llu %8llu %8llu %8llu %9llu\n", stage.name.c_str(),
                RoleName(stage.role), stage.concurrency,
                static_cast<unsigned long long>(stage.totals.events_in),
                static_cast<unsigned long long>(stage.totals.events_out),
                static_cast<unsigned long long>(stage.totals.events_dropped),
                static_cast<unsigned long long>(stage.totals.events_failed),
                static_cast<unsigned long long>(stage.totals.events_dead_lettered),
                static_cast<unsigned long long>(stage.totals.restarts));
  }
  const uint64_t emitted = report.events_emitted();
  const uint64_t done = report.events_acknowledged() + report.events_dropped() +
                        report.events_dead_lettered() + report.events_discarded();
  std::printf(
      "events: %llu emitted = %llu acknowledged + %llu dropped + %llu dead-lettered + %llu "
      "discarded "
      "+ %llu in flight\n",
      static_cast<unsigned long long>(emitted),
      static_cast<unsigned long long>(report.events_acknowledged()),
      static_cast<unsigned long long>(report.events_dropped()),
      static_cast<unsigned long long>(report.events_dead_lettered()),
      static_cast<unsigned long long>(report.events_discarded()),
      static_cast<unsigned long long>(report.events_in_flight()));
  for (const PartitionReport& partition : report.partitions) {
    std::printf(
        "source %s/%u partition %d: committed up to offset %lld\n", partition.source.c_str(),
        partition.instance, partition.partition.value(),
        static_cast<long long>(partition.commit_point ? partition.commit_point->value() : -1));
  }
  std::printf("rate: %.0f events/s\n", seconds > 0 ? static_cast<double>(emitted) / seconds : 0.0);
  const bool adds_up = emitted == done + report.events_in_flight();
  if (!adds_up) std::fprintf(stderr, "sluice quickstart: the counts do not add up\n");
  return report.status.ok() && adds_up && emitted == 1'000'000 ? 0 : 1;
}
