#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

#include "pipeline/string_view_compat.h"
#include "tools/cli/commands.h"

namespace sluice::cli {
namespace {

std::string Describe(const StageGraphEntry& stage) {
  std::string text = absl::StrCat(stage.name, " [", stage.type, ", ", Av(RoleName(stage.role)));
  if (stage.concurrency > 1) absl::StrAppend(&text, ", concurrency ", stage.concurrency);
  if (stage.role != StageRole::kConsumer) {
    absl::StrAppend(&text, ", dispatch ", Av(DispatchName(stage.dispatch)));
    if (stage.dispatch == DispatchMode::kPartition) {
      absl::StrAppend(&text, " by ", stage.partition_by);
    }
  }
  if (stage.role != StageRole::kProducer) {
    absl::StrAppend(&text, ", demand ", stage.max_demand, "/", stage.min_demand);
  }
  return text + "]";
}

std::string DotQuote(const std::string& text) {
  return absl::StrCat("\"", absl::StrReplaceAll(text, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

void PrintText(const PipelineConfig& config) {
  std::cout << "pipeline " << config.options.name << "\n";
  for (const StageGraphEntry& stage : config.graph) {
    std::cout << "  " << Describe(stage) << "\n";
    for (const std::string& upstream : stage.subscribe) {
      std::cout << "    <- " << upstream << "\n";
    }
  }
}

void PrintDot(const PipelineConfig& config) {
  std::cout << "digraph " << DotQuote(config.options.name) << " {\n"
            << "  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n";
  for (const StageGraphEntry& stage : config.graph) {
    std::string label = absl::StrCat(stage.name, "\\n", stage.type);
    if (stage.concurrency > 1) absl::StrAppend(&label, " x", stage.concurrency);
    const char* shape = stage.role == StageRole::kProducer   ? "invhouse"
                        : stage.role == StageRole::kConsumer ? "house"
                                                             : "box";
    std::cout << "  " << DotQuote(stage.name) << " [label=\"" << label << "\", shape=" << shape
              << "];\n";
  }
  for (const StageGraphEntry& stage : config.graph) {
    for (const std::string& upstream : stage.subscribe) {
      const size_t dot = upstream.find('.');
      const std::string from = upstream.substr(0, dot);
      std::string label;
      for (const StageGraphEntry& producer : config.graph) {
        if (producer.name != from) continue;
        label = std::string(Av(DispatchName(producer.dispatch)));
        if (producer.dispatch == DispatchMode::kPartition) {
          absl::StrAppend(&label, " by ", producer.partition_by);
        }
      }
      if (dot != std::string::npos) label = upstream.substr(dot + 1);
      std::cout << "  " << DotQuote(from) << " -> " << DotQuote(stage.name)
                << " [label=" << DotQuote(label) << "];\n";
    }
  }
  std::cout << "}\n";
}

}  // namespace

int Graph(const GraphArgs& args) {
  absl::StatusOr<LoadedConfig> loaded = LoadConfig(args.config);
  if (!loaded.ok()) return ReportConfigError(loaded.status());
  if (args.format == "dot") {
    PrintDot(loaded->config);
  } else {
    PrintText(loaded->config);
  }
  return kExitOk;
}

}  // namespace sluice::cli
