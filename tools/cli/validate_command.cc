#include <iostream>

#include "tools/cli/commands.h"
#include "tools/config/yaml_loader.h"

namespace sluice::cli {

int Validate(const ValidateArgs& args) {
  absl::StatusOr<LoadedConfig> loaded = LoadConfig(args.config);
  if (!loaded.ok()) return ReportConfigError(loaded.status());
  if (args.print) std::cout << config::ToYaml(loaded->root);
  std::cerr << "ok: pipeline \"" << loaded->config.options.name << "\", "
            << loaded->config.graph.size() << " stages\n";
  return kExitOk;
}

}  // namespace sluice::cli
