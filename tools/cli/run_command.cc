#include <atomic>
#include <ctime>
#include <iostream>
#include <memory>
#include <thread>

#include "absl/time/clock.h"
#include <signal.h>
#include <unistd.h>

#include "pipeline/dead_letter_queue.h"
#include "pipeline/pipeline.h"
#include "tools/cli/commands.h"
#include "tools/cli/live_status.h"
#include "tools/cli/run_summary.h"

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
      if (received == 1) {
        std::cerr << "\nsluice: " << (signal == SIGINT ? "SIGINT" : "SIGTERM")
                  << ": draining (again to stop at once)\n";
        pipeline.Drain();
      } else {
        std::cerr << "\nsluice: stopping now; unfinished events stay uncommitted\n";
        pipeline.Drain(absl::ZeroDuration());
      }
    }
  }

  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

int Run(const RunArgs& args) {
  SignalDrainer::BlockSignals();
  // A sink writing to a closed pipe gets EPIPE and fails its events (then
  // retries, then dead-letters) instead of the process dying.
  signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<LoadedConfig> loaded = LoadConfig(args.config);
  if (!loaded.ok()) return ReportConfigError(loaded.status());
  PipelineConfig& config = loaded->config;
  const std::string name = config.options.name;
  const std::vector<StageGraphEntry> graph = config.graph;
  const std::string dead_letters =
      config.options.dead_letter ? config.options.dead_letter->description() : "";

  absl::StatusOr<std::unique_ptr<Pipeline>> pipeline = MakePipeline(std::move(config));
  if (!pipeline.ok()) return ReportConfigError(pipeline.status());
  if (absl::Status started = (*pipeline)->Start(); !started.ok()) {
    std::cerr << "sluice: pipeline \"" << name << "\" did not start: " << started << "\n";
    return kExitRuntime;
  }
  RunReport report;
  {
    SignalDrainer drainer(**pipeline);
    const bool live = !args.quiet && (args.force_status || isatty(STDERR_FILENO) == 1);
    std::unique_ptr<LiveStatus> status;
    if (live) status = std::make_unique<LiveStatus>(**pipeline);
    report = (*pipeline)->Wait();
  }
  pipeline->reset();
  std::cerr << Summary(name, graph, report, dead_letters);
  if (!report.status.ok()) return kExitRuntime;
  if (CountsMustBalance(graph) && !CountsBalance(report)) return kExitRuntime;
  return kExitOk;
}

}  // namespace sluice::cli
