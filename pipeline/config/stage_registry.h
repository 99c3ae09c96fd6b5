// File: pipeline/config/stage_registry.h
//
// The StageRegistry maps a config's `type:` to the code that makes that stage.
// sluice's built-in stages and connectors register here exactly as a user's
// own stage library does: a registration line beside the definition, and the
// library linked whole (CMake: `$<LINK_LIBRARY:WHOLE_ARCHIVE,...>` or an
// OBJECT library) so that the linker keeps the line.
//
//   // my_stage.cc
//   ProducerConsumerFactory MakeUppercase(StageTypeContext& context) {
//     const bool ascii_only = context.options.Bool("ascii_only").value_or(true);
//     return [ascii_only](const StageContext&) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>>
//     {
//       return std::make_unique<UppercaseStage>(ascii_only);
//     };
//   }
//   SLUICE_REGISTER_PRODUCER_CONSUMER("uppercase", MakeUppercase);
//
// A type may register several roles under one name (`file` is a source and a
// sink). A stage's role comes from its place in the topology: a stage that
// subscribes to nothing is a producer, one that nobody subscribes to is a
// consumer, any other a producer-consumer.
//
// Implementation rules for makers:
//   - Read every option through `context.options` (that is how unknown keys
//     are found) and report bad values there; do not call Finish().
//   - Return an empty factory when an option was invalid; the loader goes on
//     to collect the other stages' errors and starts nothing.
//   - No I/O beyond checking what a path or value looks like: a maker runs
//     for `sluice validate` too. Open files and connections in Start().
//
// Thread-safe: registration happens during static initialisation; lookups
// afterwards only read.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/config/option_reader.h"
#include "pipeline/pipeline.h"
#include "pipeline/source_probe.h"
#include "pipeline/stage.h"
#include "pipeline/status_macros.h"

namespace sluice {

// What a maker gets: its stage's own options, and where it stands.
struct StageTypeContext {
  std::string_view pipeline_name;
  std::string_view stage_name;
  // The directory of the config file: relative paths in options resolve
  // against it.
  std::string_view config_dir;
  // Where the pipeline keeps its files (the default dead-letter file, state).
  std::string_view data_dir;
  // The stage's map in the config. Common keys (name, type, subscribe,
  // concurrency, ...) are already known; read yours.
  OptionReader& options;
  // The stage's `concurrency`. Some types cannot run more than one instance
  // (one file read or appended in order): RequireSingleInstance().
  uint32_t concurrency = 1;
  // The stage's `max_demand`: the most events it may hold (Output::Hold)
  // before its input stops. A batching stage checks its batch size by it.
  int64_t max_demand = 1000;
  // Where a source with state the runtime cannot see (Kafka partitions)
  // registers a probe for the operations endpoint (pipeline/source_probe.h).
  // Null when nobody listens (tests building a single stage).
  SourceProbeRegistry* probes = nullptr;

  // Reports `concurrency` above 1 as an error at its place, saying `why`
  // ("a file sink appends to one file in order").
  void RequireSingleInstance(std::string_view why);
};

using ProducerMaker = std::function<ProducerFactory(StageTypeContext&)>;
using ProducerConsumerMaker = std::function<ProducerConsumerFactory(StageTypeContext&)>;
using ConsumerMaker = std::function<ConsumerFactory(StageTypeContext&)>;

struct StageType {
  std::string name;
  ProducerMaker producer;
  ProducerConsumerMaker producer_consumer;
  ConsumerMaker consumer;
  // Named outputs (Vector's `route`): a stage subscribes to `<stage>.<output>`
  // and receives the events this type tagged with header `sluice.route` equal
  // to that output. Empty for ordinary types.
  bool has_named_outputs = false;

  bool supports(StageRole role) const;
};

// The header a routing stage sets to name an event's output.
inline constexpr std::string_view kRouteHeader = "sluice.route";

class StageRegistry {
 public:
  // The process-wide registry the config loader reads.
  static StageRegistry& Global();

  // Each returns true (so that it can initialise a static). Registering a
  // role a type already has replaces it, but which of two registrations in
  // different libraries runs last is unspecified (static initialisation
  // order): give your own types names of their own.
  bool RegisterProducer(std::string_view type, ProducerMaker maker);
  bool RegisterProducerConsumer(std::string_view type, ProducerConsumerMaker maker);
  bool RegisterConsumer(std::string_view type, ConsumerMaker maker);
  bool MarkNamedOutputs(std::string_view type);

  // Null if no such type.
  const StageType* Find(std::string_view type) const;
  // Every type name, sorted.
  std::vector<std::string> TypeNames() const;

 private:
  StageType& Entry(std::string_view type);
  std::map<std::string, StageType, std::less<>> types_;
};

}  // namespace sluice

// Registers `maker` for stage `type` (a string literal). At namespace scope.
#define SLUICE_REGISTER_PRODUCER(type, maker)                                               \
  [[maybe_unused]] static const bool SLUICE_INTERNAL_CONCAT(sluice_registered_, __LINE__) = \
      ::sluice::StageRegistry::Global().RegisterProducer(type, maker)
#define SLUICE_REGISTER_PRODUCER_CONSUMER(type, maker)                                      \
  [[maybe_unused]] static const bool SLUICE_INTERNAL_CONCAT(sluice_registered_, __LINE__) = \
      ::sluice::StageRegistry::Global().RegisterProducerConsumer(type, maker)
#define SLUICE_REGISTER_CONSUMER(type, maker)                                               \
  [[maybe_unused]] static const bool SLUICE_INTERNAL_CONCAT(sluice_registered_, __LINE__) = \
      ::sluice::StageRegistry::Global().RegisterConsumer(type, maker)
// A type whose events go to named outputs (see StageType::has_named_outputs).
#define SLUICE_REGISTER_NAMED_OUTPUTS(type)                                                 \
  [[maybe_unused]] static const bool SLUICE_INTERNAL_CONCAT(sluice_registered_, __LINE__) = \
      ::sluice::StageRegistry::Global().MarkNamedOutputs(type)
