#include <iostream>

#include "tools/cli/commands.h"
#include "tools/config/yaml_loader.h"

namespace sluice::cli {

int Validate(const ValidateArgs& args) {
  absl::StatusOr<PipelineConfig> config = LoadConfig(args.config);
  if (!config.ok()) return ReportConfigError(config.status());
  if (args.print) {
    config::LoadOptions options;
    options.overrides = args.config.overrides;
    absl::StatusOr<ConfigNode> root = config::LoadYamlFile(args.config.config_path, options);
    if (!root.ok()) return ReportConfigError(root.status());
    std::cout << config::ToYaml(*root);
  }
  std::cerr << "ok: pipeline \"" << config->options.name << "\", " << config->graph.size()
            << " stages\n";
  return kExitOk;
}

}  // namespace sluice::cli
