// File: pipeline/config/pipeline_config.h
//
// Turns a pipeline's configuration tree (a ConfigNode, from the YAML loader)
// into what PipelineBuilder needs: options, and a StageSpec per stage whose
// factory comes from the StageRegistry. Every problem is reported with its
// file:line:column, all of them in one go: unknown keys (with a did-you-mean),
// wrong types, out-of-range values, unknown types, dangling, self and
// duplicate `subscribe`, cycles, a sink with no upstream, a source or
// processor with no subscribers. Nothing is started and nothing opened.
//
//   SLUICE_ASSIGN_OR_RETURN(ConfigNode root, LoadYamlFile("pipeline.yaml"));
//   SLUICE_ASSIGN_OR_RETURN(PipelineConfig config, BuildPipelineConfig(root, {.config_dir = "."}));
//   SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> pipeline, MakePipeline(std::move(config)));
//
// The keys (docs/configuration.md has them all, with defaults):
//
//   name: orders                  # defaults to PipelineConfigContext::default_name
//   data_dir: sluice-data/orders  # relative paths resolve against the config's directory
//   shutdown_timeout: 30s
//   supervision: {strategy: one_for_one, max_restarts: 3, max_seconds: 5s}
//   retry: {max_attempts: 3, initial_backoff: 100ms, max_backoff: 30s, multiplier: 2, jitter: 0.2}
//   dead_letter: {type: file, path: dead-letters.log}
//   metrics: {address: 127.0.0.1:9464, token: ${TOKEN}, admin: false, stuck_after: 60s}
//   log: {format: text, level: info}   # text | json; trace .. error, off
//   stages:
//     - name: parse
//       type: json_parse
//       subscribe: [in]             # or `router.orders`: a named output
//       concurrency: 2
//       max_demand: 1000            # min_demand defaults to max_demand / 2
//       dispatch: demand            # demand | broadcast | partition
//       partition_by: key           # key | header:<name>
//       buffer_size: 10000
//       buffer_keep: last           # first | last
//       retry: {...}                # overrides the pipeline's, key by key
//       dead_letter: {...}          # overrides the pipeline's
//       supervision: {...}          # among this stage's instances
//       required: [/id]             # the type's own options
//
// Thread-compatible; reads the global registries.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "pipeline/config/config_errors.h"
#include "pipeline/config/config_node.h"
#include "pipeline/log.h"
#include "pipeline/options.h"
#include "pipeline/pipeline.h"
#include "pipeline/source_probe.h"

namespace sluice {

// One stage as the topology shows it (`sluice graph`).
struct StageGraphEntry {
  std::string name;
  std::string type;
  StageRole role = StageRole::kProducer;
  // As written: "parse", "router.orders".
  std::vector<std::string> subscribe;
  uint32_t concurrency = 1;
  DispatchMode dispatch = DispatchMode::kDemand;
  // "key" or "header:<name>", for kPartition.
  std::string partition_by = "key";
  int64_t max_demand = 1000;
  int64_t min_demand = 500;
};

struct PipelineConfig {
  PipelineOptions options;
  std::vector<StageSpec> stages;
  std::vector<StageGraphEntry> graph;
  // Absolute or relative to the working directory.
  std::string data_dir;
  // "" when the config names none.
  std::string metrics_address;
  // The operations endpoint's other keys (docs/metrics.md): a bearer token
  // ("" = none; a secret, never printed), admin actions on, and how long a
  // partition may lag without its committed offset moving before readiness
  // names it stuck.
  std::string metrics_token;
  bool metrics_admin = false;
  absl::Duration metrics_stuck_after = absl::Seconds(60);
  // `log:`: how `sluice run` writes its log (pipeline/log.h).
  LogOptions log;
  // The probes the stage types registered (pipeline/source_probe.h); never
  // null.
  std::shared_ptr<SourceProbeRegistry> probes = std::make_shared<SourceProbeRegistry>();
};

struct PipelineConfigContext {
  // The directory relative paths resolve against ("" = working directory).
  std::string config_dir;
  // The pipeline's name when the config has no `name:` (the file's stem).
  std::string default_name = "pipeline";
  // Errors the loader found but could go on past (a duplicate key, a missing
  // variable): reported together with this file's other errors.
  const ConfigErrors* earlier_errors = nullptr;
};

// REQUIRES: `root` came from a loader that set marks. Errors: kInvalidArgument
// with one "file:line:column: message" per line.
absl::StatusOr<PipelineConfig> BuildPipelineConfig(const ConfigNode& root,
                                                   const PipelineConfigContext& context);

// Builds (but does not start) the pipeline.
absl::StatusOr<std::unique_ptr<Pipeline>> MakePipeline(PipelineConfig config);

// Lowercase YAML spellings, for printing.
std::string_view RoleName(StageRole role);
std::string_view DispatchName(DispatchMode mode);

}  // namespace sluice
