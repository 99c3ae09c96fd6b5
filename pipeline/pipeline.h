// File: pipeline/pipeline.h
//
// A Pipeline is a running topology of stages: producers, producer-consumers
// and consumers linked by subscriptions, each stage run as `concurrency`
// lightweight instances on a shared oneTBB arena, under a two-level
// supervision tree (the pipeline supervises its stages, each stage its
// instances). PipelineBuilder assembles and validates one in code; the YAML
// loader (issue #4) uses the same builder.
//
//   PipelineBuilder builder({.name = "orders"});
//   builder.AddProducer("numbers", MakeNumbers, {});
//   builder.AddProducerConsumer("double", MakeDoubler, {.subscribe = {"numbers"}, .concurrency =
//   2}); builder.AddConsumer("print", MakePrinter, {.subscribe = {"double"}});
//   SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> pipeline, std::move(builder).Build());
//   SLUICE_RETURN_IF_ERROR(pipeline->Start());
//   RunReport report = pipeline->Wait();      // until the sources end
//
// Thread-safe: Drain() and Snapshot() may be called from any thread while
// Wait() blocks in another (a signal handler thread drains, main waits).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "pipeline/named_type.h"
#include "pipeline/options.h"
#include "pipeline/stage.h"
#include "pipeline/stage_metrics.h"

namespace sluice {

class DeadLetterQueue;
class InMemoryDeadLetterQueue;

namespace internal {
class PipelineRuntime;
}  // namespace internal

enum class StageRole { kProducer, kProducerConsumer, kConsumer };

// A stage as declared: what the builder collects and validates.
struct StageSpec {
  std::string name;
  StageRole role = StageRole::kProducer;
  StageOptions options;
  ProducerFactory producer_factory;
  ProducerConsumerFactory producer_consumer_factory;
  ConsumerFactory consumer_factory;
};

// Where one source partition stands when a run ends.
struct PartitionReport {
  std::string source;  // stage name
  uint32_t instance = 0;
  Partition partition{0};
  // Every event below this offset is done; nullopt if nothing was emitted.
  std::optional<Offset> commit_point;
  // Events emitted and not done: left uncommitted, redelivered next run.
  size_t in_flight = 0;
};

struct StageReport {
  std::string name;
  StageRole role = StageRole::kProducer;
  uint32_t concurrency = 1;
  StageMetricsSnapshot totals;
  std::vector<StageMetricsSnapshot> instances;
};

// One dead-letter backend's writes so far (all stages using it).
struct DeadLetterReport {
  std::string backend;      // "file", "kafka", "memory": description()'s first word
  std::string description;  // DeadLetterQueue::description()
  uint64_t writes = 0;      // records stored
  uint64_t errors = 0;      // failed Write() calls
  LatencyHistogram::Counts write_latency{};
  uint64_t write_ns = 0;  // the sum of write_latency
  // The last write's error if it failed and none succeeded since; "" if not.
  std::string failing;
};

struct RunReport {
  // OK, or why the pipeline stopped (the root supervisor gave up).
  absl::Status status;
  // False if Drain()'s timeout passed with events still in flight.
  bool drained = true;
  absl::Duration elapsed;
  std::vector<StageReport> stages;
  std::vector<PartitionReport> partitions;

  // Events the sources emitted, and how they ended.
  uint64_t events_emitted() const;
  uint64_t events_acknowledged() const;
  uint64_t events_dropped() const;
  uint64_t events_dead_lettered() const;
  uint64_t events_discarded() const;
  uint64_t events_in_flight() const;
};

class Pipeline {
 public:
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Creates every instance (calling the factories and Start()), subscribes
  // them and sends the first demand. Fails, with nothing left running, if a
  // factory or a Start() fails.
  absl::Status Start();
  // Blocks until every source has finished and every event is done, or the
  // root supervisor gave up, or Drain() ended the run. Then stops every
  // instance (sources commit in Stop()) and reports.
  RunReport Wait();
  // Stops the sources, lets in-flight events finish for at most `timeout`
  // (PipelineOptions::shutdown_timeout if absent), then ends the run; Wait()
  // returns. Events not done by then stay uncommitted. Idempotent, except
  // that a later call with a closer deadline (a second SIGTERM: zero) moves
  // the end to it.
  void Drain(std::optional<absl::Duration> timeout = std::nullopt);
  // The metrics of every stage now.
  std::vector<StageReport> Snapshot() const;
  // The default dead-letter queue, when PipelineOptions gave none.
  InMemoryDeadLetterQueue* dead_letters() const;
  // Every dead-letter backend's writes now.
  std::vector<DeadLetterReport> DeadLetterSnapshot() const;

  // For the operations endpoint (tools/ops/, docs/metrics.md).
  const std::string& name() const;
  // Drain() was called: the run is ending.
  bool draining() const;
  // OK while the supervision tree copes; else why not: a stage escalating
  // (restarts beyond its intensity) or the root supervisor gave up.
  absl::Status health() const;
  // While paused the runtime stops asking producers for events (a Kafka
  // source then fills its buffer and pauses its partitions by itself, with
  // no rebalance); in-flight events go on. Resume() asks them again.
  void Pause();
  void Resume();
  bool paused() const;

 private:
  friend class PipelineBuilder;
  explicit Pipeline(std::unique_ptr<internal::PipelineRuntime> runtime);

  std::unique_ptr<internal::PipelineRuntime> runtime_;
};

class PipelineBuilder {
 public:
  explicit PipelineBuilder(PipelineOptions options);

  PipelineBuilder& AddProducer(std::string name, ProducerFactory factory,
                               StageOptions options = {});
  PipelineBuilder& AddProducerConsumer(std::string name, ProducerConsumerFactory factory,
                                       StageOptions options = {});
  PipelineBuilder& AddConsumer(std::string name, ConsumerFactory factory,
                               StageOptions options = {});
  PipelineBuilder& Add(StageSpec spec);

  // Checks the topology and makes the pipeline. Errors (all reported in one
  // kInvalidArgument status, one per line): duplicate or empty names,
  // `subscribe` naming an unknown stage or the stage itself, a producer that
  // subscribes, a consumer that is subscribed to, a cycle, a non-producer
  // with no upstream, a non-consumer with no downstream, bad demand or
  // concurrency values.
  absl::StatusOr<std::unique_ptr<Pipeline>> Build() &&;

 private:
  PipelineOptions options_;
  std::vector<StageSpec> stages_;
};

}  // namespace sluice
