// File: tools/config/yaml_loader.h
//
// Reads a pipeline file (YAML) into a ConfigNode tree whose every value knows
// its file, line and column, and resolves `${VAR}` / `${VAR:-default}` from
// the environment (`$$` is a literal `$`). Command-line overrides
// (`--set stages.parse.concurrency=4`) apply after interpolation. Malformed
// YAML, duplicate keys and missing variables are errors with their place; all
// of them are reported together.
//
//   SLUICE_ASSIGN_OR_RETURN(ConfigNode root, LoadYamlFile("configs/quickstart.yaml"));
//
// Thread-compatible; reads the process environment unless given one.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

#include "pipeline/config/config_errors.h"
#include "pipeline/config/config_node.h"

namespace sluice::config {

struct LoadOptions {
  // Where `${VAR}` looks; null: the process environment.
  const std::map<std::string, std::string>* environment = nullptr;
  // "path=value" overrides. A path is dot-separated: map keys, list indexes,
  // or a stage's name inside `stages` (`stages.parse.concurrency=4`).
  std::vector<std::string> overrides;
};

// Errors: kNotFound if the file cannot be read; kInvalidArgument with one
// "file:line:column: message" per line for everything else.
absl::StatusOr<ConfigNode> LoadYamlFile(const std::string& path, const LoadOptions& options = {});
// `name` stands for the file name in marks.
absl::StatusOr<ConfigNode> LoadYamlString(std::string_view text, std::string_view name,
                                          const LoadOptions& options = {});

// As above, but errors the loader can go on past (a duplicate key, a missing
// variable, a bad override) are added to `errors` and the tree is still
// returned, so that the caller reports them with the rest of the file's
// errors (PipelineConfigContext::earlier_errors). Only unreadable or
// malformed YAML fails.
absl::StatusOr<ConfigNode> LoadYamlFile(const std::string& path, const LoadOptions& options,
                                        ConfigErrors& errors);
absl::StatusOr<ConfigNode> LoadYamlString(std::string_view text, std::string_view name,
                                          const LoadOptions& options, ConfigErrors& errors);

// True for keys whose values are secrets (password, secret, token, ...):
// printed as "******".
bool IsSecretKey(std::string_view key);
// The tree as YAML, secrets masked.
std::string ToYaml(const ConfigNode& node);

}  // namespace sluice::config
