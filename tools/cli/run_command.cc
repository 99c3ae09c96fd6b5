#include <atomic>
#include <ctime>
#include <iostream>
#include <memory>
#include <thread>

#include "absl/time/clock.h"
#include <signal.h>
#include <unistd.h>

#include "pipeline/dead_letter_queue.h"
#include "pipeline/log.h"
#include "pipeline/pipeline.h"
#include "tools/cli/commands.h"
#include "tools/cli/live_status.h"
#include "tools/cli/run_summary.h"
#include "tools/config/yaml_loader.h"
#include "tools/ops/ops_server.h"

namespace sluice::cli {
namespace {

// Turns SIGINT/SIGTERM into a drain. The signals are blocked in every thread
// (set before any thread starts) and taken here with sigtimedwait, so no
// async-signal-safety rules apply. A second signal drains with no grace.
class SignalDrainer {
 public:
  explicit SignalDrainer(Pipeline& pipeline) : thread_([this, &pipeline] { Loop(pipeline); }) {}
  ~SignalDrainer() {
    stop_.store(true, std::memory_order_release);
    thread_.join();
  }

  // Call first thing, before any thread exists: every later thread inherits
  // the mask.
  static void BlockSignals() {
    sigset_t set = Signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    // A shell starts background jobs with SIGINT ignored, and an ignored
    // signal never reaches sigtimedwait: take them back (they are blocked,
    // so the default action cannot fire).
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
  }

 private:
  static sigset_t Signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
  }

  void Loop(Pipeline& pipeline) {
    const sigset_t set = Signals();
    const timespec tick{0, 100'000'000};
    int received = 0;
    while (!stop_.load(std::memory_order_acquire)) {
      const int signal = sigtimedwait(&set, nullptr, &tick);
      if (signal < 0) continue;
      ++received;
      const char* name = signal == SIGINT ? "SIGINT" : "SIGTERM";
      LogEvent(spdlog::level::info, "signal_received")
          .Pipeline(pipeline.name())
          .Field("signal", name)
          .Field("action", received == 1 ? "drain" : "stop_now");
      if (received == 1) {
        std::cerr << "\nsluice: " << name << ": draining (again to stop at once)\n";
        pipeline.Drain();
      } else {
        std::cerr << "\nsluice: stopping now; unfinished events stay uncommitted\n";
        // Brings the running drain's deadline to now.
        pipeline.Drain(absl::ZeroDuration());
      }
    }
  }

  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Every value under a key the config printer masks (config::IsSecretKey:
// passwords, secrets, tokens, ...), whole maps and lists under such a key
// included.
void CollectSecrets(const ConfigNode& node, bool secret, std::vector<std::string>& out) {
  if (node.is_scalar()) {
    if (secret) out.push_back(node.scalar());
  } else if (node.is_sequence()) {
    for (const ConfigNode& item : node.items()) CollectSecrets(item, secret, out);
  } else if (node.is_map()) {
    for (const ConfigNode::Entry& entry : node.entries()) {
      CollectSecrets(entry.value, secret || config::IsSecretKey(entry.key), out);
    }
  }
}

}  // namespace

void RegisterConfigSecrets(const ConfigNode& root) {
  std::vector<std::string> secrets;
  CollectSecrets(root, false, secrets);
  for (const std::string& secret : secrets) AddSecret(secret);
}

int Run(const RunArgs& args) {
  SignalDrainer::BlockSignals();
  // A sink writing to a closed pipe gets EPIPE and fails its events (then
  // retries, then dead-letters) instead of the process dying.
  signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<LoadedConfig> loaded = LoadConfig(args.config);
  if (!loaded.ok()) return ReportConfigError(loaded.status());
  // Before anything logs: from here on no line carries a secret.
  RegisterConfigSecrets(loaded->root);
  PipelineConfig& config = loaded->config;
  LogOptions log = config.log;
  if (!args.log_format.empty()) {
    absl::StatusOr<LogFormat> format = ParseLogFormat(args.log_format);
    if (!format.ok()) {
      std::cerr << "--log-format: " << format.status().message() << "\n";
      return kExitConfig;
    }
    log.format = *format;
  }
  ConfigureLogging(log);
  const std::string name = config.options.name;
  const std::vector<StageGraphEntry> graph = config.graph;
  const std::string dead_letters =
      config.options.dead_letter ? config.options.dead_letter->description() : "";

  // The operations endpoint (docs/metrics.md): the flag overrides the config.
  ops::OpsOptions metrics{
      .address = args.metrics_address.empty() ? config.metrics_address : args.metrics_address,
      .token = config.metrics_token,
      .admin = config.metrics_admin,
      .stuck_after = config.metrics_stuck_after,
      .version = SLUICE_VERSION,
      .build_type = SLUICE_BUILD_TYPE};
  const std::shared_ptr<const SourceProbeRegistry> probes = config.probes;
  absl::StatusOr<std::unique_ptr<Pipeline>> pipeline = MakePipeline(std::move(config));
  if (!pipeline.ok()) return ReportConfigError(pipeline.status());
  if (absl::Status started = (*pipeline)->Start(); !started.ok()) {
    std::cerr << "sluice: pipeline \"" << name << "\" did not start: " << started << "\n";
    return kExitRuntime;
  }
  std::unique_ptr<ops::OpsServer> ops_server;
  if (!metrics.address.empty()) {
    absl::StatusOr<std::unique_ptr<ops::OpsServer>> started_ops =
        ops::OpsServer::Start(**pipeline, probes, metrics);
    if (!started_ops.ok()) {
      std::cerr << "sluice: " << started_ops.status().message() << "\n";
      (*pipeline)->Drain(absl::ZeroDuration());
      (*pipeline)->Wait();
      return kExitConfig;
    }
    ops_server = std::move(*started_ops);
    // Tests (and scripts with port 0) read the address from this line.
    std::cerr << "sluice: metrics on http://" << ops_server->address() << "\n";
  }
  RunReport report;
  {
    SignalDrainer drainer(**pipeline);
    const bool live = !args.quiet && (args.force_status || isatty(STDERR_FILENO) == 1);
    std::unique_ptr<LiveStatus> status;
    if (live) status = std::make_unique<LiveStatus>(**pipeline);
    report = (*pipeline)->Wait();
  }
  ops_server.reset();  // before the pipeline it reads
  pipeline->reset();
  // A crash reason may quote a secret: masked (pipeline/log.h).
  std::cerr << Redact(Summary(name, graph, report, dead_letters));
  if (!report.status.ok()) return kExitRuntime;
  if (!report.drained && report.events_in_flight() > 0) {
    // The events were neither acknowledged nor committed: the next run reads
    // them again from the last commit.
    std::cerr << "sluice: " << report.events_in_flight()
              << " events unfinished, left uncommitted for redelivery (exit code "
              << kExitDrainTimeout << ")\n";
    return kExitDrainTimeout;
  }
  if (CountsMustBalance(graph) && !CountsBalance(report)) return kExitRuntime;
  return kExitOk;
}

}  // namespace sluice::cli
