#include <filesystem>
#include <iostream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

#include "pipeline/status_macros.h"
#include "tools/cli/commands.h"
#include "tools/config/yaml_loader.h"

namespace sluice::cli {

absl::StatusOr<LoadedConfig> LoadConfig(const ConfigArgs& args) {
  config::LoadOptions options;
  options.overrides = args.overrides;
  ConfigErrors errors;
  SLUICE_ASSIGN_OR_RETURN(ConfigNode root, config::LoadYamlFile(args.config_path, options, errors));
  const std::filesystem::path path(args.config_path);
  PipelineConfigContext context{
      .config_dir = path.parent_path().string(),
      .default_name = path.stem().string(),
      .earlier_errors = &errors,
  };
  SLUICE_ASSIGN_OR_RETURN(PipelineConfig config, BuildPipelineConfig(root, context));
  return LoadedConfig{std::move(root), std::move(config)};
}

int ReportConfigError(const absl::Status& status) {
  // The message is already "file:line:column: what" per line.
  std::cerr << status.message() << "\n";
  return kExitConfig;
}

}  // namespace sluice::cli
