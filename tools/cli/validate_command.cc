#include <iostream>
#include <string>
#include <vector>

#include "absl/time/time.h"

#include "pipeline/log.h"
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
  // --connect makes Kafka clients, whose log lines go through the log: masked.
  RegisterConfigSecrets(loaded->root);
  ConfigureLogging(loaded->config.log);
  // Secret keys print as "******"; a secret's value quoted under another key
  // (an error text, a URL) is masked too.
  if (args.print) std::cout << Redact(config::ToYaml(loaded->root));
  if (args.connect) {
    std::vector<std::string> notes;
    const absl::Status reachable = CheckConnections(*loaded, timeout, notes);
    for (const std::string& note : notes) std::cerr << "connect: " << Redact(note) << "\n";
    if (!reachable.ok()) {
      return ReportConfigError(
          absl::Status(reachable.code(), Redact(std::string(reachable.message()))));
    }
  }
  std::cerr << "ok: pipeline \"" << loaded->config.options.name << "\", "
            << loaded->config.graph.size() << " stages" << (args.connect ? ", connected" : "")
            << "\n";
  return kExitOk;
}

}  // namespace sluice::cli
