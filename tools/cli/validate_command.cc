#include <iostream>
#include <string>
#include <vector>

#include "absl/time/time.h"

#include "tools/cli/commands.h"
#include "tools/cli/validate_connect.h"
#include "tools/config/yaml_loader.h"

namespace sluice::cli {

int Validate(const ValidateArgs& args) {
  absl::Duration timeout;
  if (!absl::ParseDuration(args.timeout, &timeout) || timeout <= absl::ZeroDuration()) {
    std::cerr << "--timeout: \"" << args.timeout << "\" is not a positive duration (e.g. 5s)\n";
    return kExitConfig;
  }
  absl::StatusOr<LoadedConfig> loaded = LoadConfig(args.config);
  if (!loaded.ok()) return ReportConfigError(loaded.status());
  if (args.print) std::cout << config::ToYaml(loaded->root);
  if (args.connect) {
    std::vector<std::string> notes;
    const absl::Status reachable = CheckConnections(*loaded, timeout, notes);
    for (const std::string& note : notes) std::cerr << "connect: " << note << "\n";
    if (!reachable.ok()) return ReportConfigError(reachable);
  }
  std::cerr << "ok: pipeline \"" << loaded->config.options.name << "\", "
            << loaded->config.graph.size() << " stages" << (args.connect ? ", connected" : "")
            << "\n";
  return kExitOk;
}

}  // namespace sluice::cli
