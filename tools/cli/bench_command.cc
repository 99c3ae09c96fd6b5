// File: tools/cli/bench_command.cc
//
// `sluice bench CONFIG`: runs a pipeline config several times and reports
// events/s and MB/s (median and spread), end-to-end latency percentiles from
// event timestamps, CPU time, peak RSS, per-stage rates and the slowest
// stage; `--json FILE` writes the same for scripts (fields documented in
// docs/BENCHMARKS.md, "sluice bench"); `--compare` runs the in-memory peers
// (bench/peers/: bare moodycamel hand-off, oneTBB flow_graph and
// parallel_pipeline) alternately with sluice and prints sluice's ratio to each.
//
// Decisions:
//   - Each run builds the pipeline afresh from the config, as `sluice run`
//     does; the time counted is from Start() to the end of Wait().
//   - `--events N` sets `count` on every generator source; `--duration S`
//     drains the pipeline S after it started (a source that ends earlier ends
//     the run earlier).
//   - Peak RSS is the kernel's high-water mark (VmHWM), reset before each run
//     (/proc/self/clear_refs), so each run reports its own.
//   - RSS slope: the resident set (VmRSS) is sampled every 100 ms during a
//     run; the slope is the least-squares line through the samples after the
//     first fifth of the run (start-up and the first fill of buffers are not
//     growth), in bytes per minute. Flat memory gives about 0; a leak or a
//     queue growing with the input gives its rate.
//   - Peers are the benchmark binary bench/sluice_peers_bench of the same
//     build (found beside this binary's build tree); without it `--compare`
//     is an error that says how to build it.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include <librdkafka/rdkafka.h>
#include <sys/resource.h>
#include <unistd.h>

#include "pipeline/config/option_reader.h"
#include "pipeline/latency_histogram.h"
#include "pipeline/pipeline.h"
#include "tools/cli/commands.h"
#include "tools/cli/json_writer.h"
#include "tools/cli/live_status.h"

namespace sluice::cli {
namespace {

struct StageRate {
  std::string name;
  std::string type;
  uint32_t concurrency = 1;
  uint64_t events_in = 0;
  double events_per_sec = 0;
  // Share of the run its instances spent in callbacks, per instance.
  double busy_share = 0;
};

struct RunResult {
  uint64_t events = 0;
  uint64_t bytes = 0;
  absl::Duration elapsed;
  double cpu_seconds = 0;
  int64_t peak_rss_bytes = 0;
  // VmRSS growth over the run (see the file comment); 0 with < 3 samples.
  double rss_slope_bytes_per_min = 0;
  size_t rss_samples = 0;
  LatencyHistogram::Counts latency{};
  std::vector<StageRate> stages;

  double events_per_sec() const { return events / std::max(1e-9, absl::ToDoubleSeconds(elapsed)); }
  double mb_per_sec() const { return bytes / 1e6 / std::max(1e-9, absl::ToDoubleSeconds(elapsed)); }
};

struct PeerResult {
  std::string name;
  std::vector<double> events_per_sec;  // one per round
};

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& time) { return time.tv_sec + time.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The value of a "Key:   123 kB" line of a /proc file, in bytes; 0 if absent.
int64_t ProcKilobytes(const std::string& path, std::string_view key) {
  std::ifstream file(path);
  std::string line;
  while (std::getline(file, line)) {
    if (!line.starts_with(key)) continue;
    std::istringstream fields(line.substr(key.size()));
    int64_t kilobytes = 0;
    fields >> kilobytes;
    return kilobytes * 1024;
  }
  return 0;
}

void ResetPeakRss() {
  // "5" resets the peak resident set size to the current one (Linux 4.0+).
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
}

std::string CpuModel() {
  std::ifstream file("/proc/cpuinfo");
  std::string line;
  while (std::getline(file, line)) {
    if (!line.starts_with("model name")) continue;
    const size_t colon = line.find(':');
    if (colon != std::string::npos) return line.substr(std::min(line.size(), colon + 2));
  }
  return "unknown";
}

struct RssSample {
  double seconds;  // since the run started
  double bytes;
};

// The least-squares slope of the samples after the first fifth of the run,
// in bytes per minute; 0 with fewer than three such samples.
double RssSlopePerMinute(const std::vector<RssSample>& samples) {
  if (samples.empty()) return 0;
  const double skip_before = samples.back().seconds / 5;
  double n = 0, sum_t = 0, sum_b = 0, sum_tt = 0, sum_tb = 0;
  for (const RssSample& sample : samples) {
    if (sample.seconds < skip_before) continue;
    n += 1;
    sum_t += sample.seconds;
    sum_b += sample.bytes;
    sum_tt += sample.seconds * sample.seconds;
    sum_tb += sample.seconds * sample.bytes;
  }
  const double denominator = n * sum_tt - sum_t * sum_t;
  if (n < 3 || denominator <= 0) return 0;
  return 60 * (n * sum_tb - sum_t * sum_b) / denominator;
}

// Samples VmRSS every 100 ms on a thread of its own from construction until
// Stop().
class RssSampler {
 public:
  RssSampler() : started_(absl::Now()), thread_([this] { Loop(); }) {}
  ~RssSampler() { Stop(); }
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;

  // Stops sampling (once); returns the samples taken.
  std::vector<RssSample> Stop() {
    if (thread_.joinable()) {
      done_.Notify();
      thread_.join();
    }
    return std::move(samples_);
  }

 private:
  void Loop() {
    do {
      samples_.push_back({absl::ToDoubleSeconds(absl::Now() - started_),
                          static_cast<double>(ProcKilobytes("/proc/self/status", "VmRSS:"))});
    } while (!done_.WaitForNotificationWithTimeout(absl::Milliseconds(100)));
  }

  const absl::Time started_;
  absl::Notification done_;
  // Written by the sampling thread only, read after Stop() joined it.
  std::vector<RssSample> samples_;
  std::thread thread_;  // last: starts once the rest is built
};

// Runs the pipeline once. `duration`: drain after that long (zero: run to the end).
absl::StatusOr<RunResult> RunOnce(const ConfigArgs& config_args, absl::Duration duration,
                                  bool live) {
  absl::StatusOr<LoadedConfig> loaded = LoadConfig(config_args);
  if (!loaded.ok()) return loaded.status();
  const std::vector<StageGraphEntry> graph = loaded->config.graph;
  absl::StatusOr<std::unique_ptr<Pipeline>> pipeline = MakePipeline(std::move(loaded->config));
  if (!pipeline.ok()) return pipeline.status();

  ResetPeakRss();
  const double cpu_before = CpuSeconds();
  const absl::Time started = absl::Now();
  if (absl::Status status = (*pipeline)->Start(); !status.ok()) return status;
  RssSampler rss;
  RunReport report;
  {
    absl::Notification finished;
    std::thread stopper;
    if (duration > absl::ZeroDuration()) {
      stopper = std::thread([&] {
        if (!finished.WaitForNotificationWithTimeout(duration)) (*pipeline)->Drain();
      });
    }
    std::unique_ptr<LiveStatus> status;
    if (live) status = std::make_unique<LiveStatus>(**pipeline);
    report = (*pipeline)->Wait();
    finished.Notify();
    if (stopper.joinable()) stopper.join();
  }
  RunResult result;
  result.elapsed = absl::Now() - started;
  const std::vector<RssSample> rss_samples = rss.Stop();
  result.rss_samples = rss_samples.size();
  result.rss_slope_bytes_per_min = RssSlopePerMinute(rss_samples);
  pipeline->reset();
  result.cpu_seconds = CpuSeconds() - cpu_before;
  result.peak_rss_bytes = ProcKilobytes("/proc/self/status", "VmHWM:");
  if (!report.status.ok()) return report.status;

  result.events = report.events_emitted();
  const double elapsed_ns = std::max(1.0, absl::ToDoubleNanoseconds(result.elapsed));
  for (size_t i = 0; i < report.stages.size(); ++i) {
    const StageReport& stage = report.stages[i];
    if (stage.role == StageRole::kProducer) result.bytes += stage.totals.bytes_in;
    if (stage.role == StageRole::kConsumer) {
      for (size_t b = 0; b < result.latency.size(); ++b)
        result.latency[b] += stage.totals.end_to_end_latency[b];
    }
    StageRate rate;
    rate.name = stage.name;
    rate.type = i < graph.size() ? graph[i].type : "";
    rate.concurrency = stage.concurrency;
    rate.events_in = stage.totals.events_in;
    rate.events_per_sec = stage.totals.events_in / (elapsed_ns / 1e9);
    rate.busy_share =
        stage.totals.busy_ns / (elapsed_ns * std::max<uint32_t>(1, stage.concurrency));
    result.stages.push_back(std::move(rate));
  }
  return result;
}

// The peers benchmark binary of this build, if it was built.
std::optional<std::string> PeersBinary() {
  char self[4096];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (length <= 0) return std::nullopt;
  std::string path(self, static_cast<size_t>(length));
  // <build>/tools/sluice -> <build>/bench/sluice_peers_bench
  for (int up = 0; up < 2; ++up) path = path.substr(0, path.rfind('/'));
  path += "/bench/sluice_peers_bench";
  if (access(path.c_str(), X_OK) != 0) return std::nullopt;
  return path;
}

// The in-memory peers of issue #3 and #7, by their benchmark names.
const std::vector<std::pair<std::string, std::string>>& Peers() {
  static const auto* const peers = new std::vector<std::pair<std::string, std::string>>{
      {"bare_handoff_batch1000", "BM_BareHandoff_Spin/batch:1000/"},
      {"tbb_flow_graph", "BM_TbbFlowGraph_Serial/"},
      {"tbb_parallel_pipeline", "BM_TbbParallelPipeline/batch:1000/"},
  };
  return *peers;
}

// Runs one peer once; its events/s.
absl::StatusOr<double> RunPeer(const std::string& binary, const std::string& filter) {
  const std::string command = absl::StrCat(binary, " --benchmark_filter='^", filter,
                                           "' --benchmark_min_time=0.5 2>/dev/null");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("cannot run ", binary));
  std::string output;
  char buffer[4096];
  while (size_t read = fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, read);
  const int status = pclose(pipe);
  // "BM_X/...   123 ns   120 ns   10 items_per_second=31.5M/s"
  const size_t at = output.find("items_per_second=");
  if (status != 0 || at == std::string::npos) {
    return absl::InternalError(absl::StrCat("peer ", filter, " did not report a rate"));
  }
  std::string rate = output.substr(at + 17, output.find("/s", at) - at - 17);
  double scale = 1;
  if (!rate.empty() && (rate.back() == 'k' || rate.back() == 'M' || rate.back() == 'G')) {
    scale = rate.back() == 'k' ? 1e3 : rate.back() == 'M' ? 1e6 : 1e9;
    rate.pop_back();
  }
  double value = 0;
  if (!absl::SimpleAtod(rate, &value)) {
    return absl::InternalError(absl::StrCat("peer ", filter, ": unreadable rate \"", rate, "\""));
  }
  return value * scale;
}

std::string Rate(double per_sec) {
  if (per_sec >= 1e6) return absl::StrFormat("%.2fM", per_sec / 1e6);
  if (per_sec >= 1e3) return absl::StrFormat("%.1fk", per_sec / 1e3);
  return absl::StrFormat("%.0f", per_sec);
}

std::string Micros(absl::Duration latency) {
  return absl::StrFormat("%.3gms", absl::ToDoubleMilliseconds(latency));
}

std::string Json(const BenchArgs& args, const std::vector<RunResult>& runs,
                 const LatencyHistogram::Counts& latency, const std::vector<PeerResult>& peers,
                 double median_rate) {
  JsonWriter json;
  json.BeginObject();
  json.Key("schema").String("sluice-bench/1");
  json.Key("config").String(args.config.config_path);
  json.Key("overrides").BeginArray();
  for (const std::string& override_text : args.config.overrides) json.String(override_text);
  json.EndArray();
  json.Key("machine").BeginObject();
  json.Key("cpu_model").String(CpuModel());
  json.Key("cores").Integer(std::thread::hardware_concurrency());
  json.Key("memory_bytes").Integer(ProcKilobytes("/proc/meminfo", "MemTotal:"));
  json.EndObject();
  json.Key("build").BeginObject();
  json.Key("type").String(SLUICE_BUILD_TYPE);
  json.Key("sluice_version").String(SLUICE_VERSION);
  json.Key("compiler").String(__VERSION__);
  json.Key("librdkafka_version").String(rd_kafka_version_str());
  json.EndObject();
  std::vector<double> rates, mb, cpu, rss_slopes;
  int64_t peak_rss = 0;
  for (const RunResult& run : runs) {
    rates.push_back(run.events_per_sec());
    mb.push_back(run.mb_per_sec());
    cpu.push_back(run.cpu_seconds);
    rss_slopes.push_back(run.rss_slope_bytes_per_min);
    peak_rss = std::max(peak_rss, run.peak_rss_bytes);
  }
  auto spread = [&json](const char* name, const std::vector<double>& values) {
    json.Key(name).BeginObject();
    json.Key("median").Number(Median(values));
    json.Key("min").Number(values.empty() ? 0 : *std::min_element(values.begin(), values.end()));
    json.Key("max").Number(values.empty() ? 0 : *std::max_element(values.begin(), values.end()));
    json.EndObject();
  };
  spread("events_per_sec", rates);
  spread("mb_per_sec", mb);
  spread("cpu_seconds", cpu);
  json.Key("peak_rss_bytes").Integer(peak_rss);
  spread("rss_slope_bytes_per_min", rss_slopes);
  json.Key("latency_us").BeginObject();
  json.Key("samples").Integer(static_cast<int64_t>(LatencyHistogram::Total(latency)));
  json.Key("p50").Integer(absl::ToInt64Microseconds(LatencyHistogram::Percentile(latency, 0.5)));
  json.Key("p99").Integer(absl::ToInt64Microseconds(LatencyHistogram::Percentile(latency, 0.99)));
  json.Key("p999").Integer(absl::ToInt64Microseconds(LatencyHistogram::Percentile(latency, 0.999)));
  json.EndObject();
  json.Key("runs").BeginArray();
  for (const RunResult& run : runs) {
    json.BeginObject();
    json.Key("events").Integer(static_cast<int64_t>(run.events));
    json.Key("bytes").Integer(static_cast<int64_t>(run.bytes));
    json.Key("elapsed_sec").Number(absl::ToDoubleSeconds(run.elapsed));
    json.Key("events_per_sec").Number(run.events_per_sec());
    json.Key("mb_per_sec").Number(run.mb_per_sec());
    json.Key("cpu_seconds").Number(run.cpu_seconds);
    json.Key("peak_rss_bytes").Integer(run.peak_rss_bytes);
    json.Key("rss_slope_bytes_per_min").Number(run.rss_slope_bytes_per_min);
    json.Key("rss_samples").Integer(static_cast<int64_t>(run.rss_samples));
    json.Key("stages").BeginArray();
    for (const StageRate& stage : run.stages) {
      json.BeginObject();
      json.Key("name").String(stage.name);
      json.Key("type").String(stage.type);
      json.Key("concurrency").Integer(stage.concurrency);
      json.Key("events_in").Integer(static_cast<int64_t>(stage.events_in));
      json.Key("events_per_sec").Number(stage.events_per_sec);
      json.Key("busy_share").Number(stage.busy_share);
      json.EndObject();
    }
    json.EndArray();
    json.EndObject();
  }
  json.EndArray();
  json.Key("peers").BeginArray();
  for (const PeerResult& peer : peers) {
    const double rate = Median(peer.events_per_sec);
    json.BeginObject();
    json.Key("name").String(peer.name);
    json.Key("events_per_sec").Number(rate);
    json.Key("ratio").Number(rate > 0 ? median_rate / rate : 0);
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return json.Take() + "\n";
}

}  // namespace

int Bench(const BenchArgs& args) {
  if (args.events.has_value() && !args.duration.empty()) {
    std::cerr << "sluice bench: give --events or --duration, not both\n";
    return kExitConfig;
  }
  absl::Duration duration = absl::ZeroDuration(), warmup = absl::ZeroDuration();
  for (const auto& [flag, text, out] : {std::tuple{"--duration", &args.duration, &duration},
                                        std::tuple{"--warmup", &args.warmup, &warmup}}) {
    if (text->empty()) continue;
    std::optional<absl::Duration> parsed = ParseConfigDuration(*text);
    if (!parsed.has_value() || *parsed < absl::ZeroDuration()) {
      std::cerr << "sluice bench: " << flag << " \"" << *text
                << "\" is not a duration with a unit (10s, 500ms)\n";
      return kExitConfig;
    }
    *out = *parsed;
  }
  if (args.runs < 1) {
    std::cerr << "sluice bench: --runs must be at least 1\n";
    return kExitConfig;
  }

  // The sources' names, for --events and --duration.
  absl::StatusOr<LoadedConfig> first = LoadConfig(args.config);
  if (!first.ok()) return ReportConfigError(first.status());
  ConfigArgs config = args.config;
  bool has_generator = false;
  for (const StageGraphEntry& stage : first->config.graph) {
    if (stage.role != StageRole::kProducer || stage.type != "generator") continue;
    has_generator = true;
    if (args.events.has_value()) {
      config.overrides.push_back(absl::StrCat("stages.", stage.name, ".count=", *args.events));
    } else if (duration > absl::ZeroDuration()) {
      config.overrides.push_back(absl::StrCat("stages.", stage.name, ".count=0"));
    }
  }
  if (args.events.has_value() && !has_generator) {
    std::cerr << "sluice bench: --events sets a generator source's count, and "
              << args.config.config_path << " has none; use --duration\n";
    return kExitConfig;
  }
  std::optional<std::string> peers_binary;
  if (args.compare) {
    peers_binary = PeersBinary();
    if (!peers_binary.has_value()) {
      std::cerr << "sluice bench: --compare needs bench/sluice_peers_bench from the same build "
                   "(configure with the `release` preset, which builds the benchmarks)\n";
      return kExitConfig;
    }
  }
  const bool live = isatty(STDERR_FILENO) == 1;

  if (warmup > absl::ZeroDuration()) {
    absl::StatusOr<RunResult> warm = RunOnce(config, warmup, live);
    if (!warm.ok()) {
      std::cerr << "sluice bench: warm-up run failed: " << warm.status() << "\n";
      return kExitRuntime;
    }
  }
  std::vector<RunResult> runs;
  std::vector<PeerResult> peers;
  if (args.compare) {
    for (const auto& [name, filter] : Peers()) peers.push_back({name, {}});
  }
  for (int k = 0; k < args.runs; ++k) {
    if (live) std::cerr << "\r\033[Krun " << k + 1 << "/" << args.runs << "\n";
    absl::StatusOr<RunResult> run = RunOnce(config, duration, live);
    if (!run.ok()) {
      std::cerr << "sluice bench: run " << k + 1 << " failed: " << run.status() << "\n";
      return kExitRuntime;
    }
    runs.push_back(std::move(*run));
    // Peers alternate with sluice's runs: drift on a shared machine hits both.
    for (size_t p = 0; p < peers.size(); ++p) {
      absl::StatusOr<double> rate = RunPeer(*peers_binary, Peers()[p].second);
      if (!rate.ok()) {
        std::cerr << "sluice bench: " << rate.status().message() << "\n";
        return kExitRuntime;
      }
      peers[p].events_per_sec.push_back(*rate);
    }
  }

  std::vector<double> rates, mb;
  LatencyHistogram::Counts latency{};
  std::map<std::string, double> busy;  // stage -> mean busy share
  for (const RunResult& run : runs) {
    rates.push_back(run.events_per_sec());
    mb.push_back(run.mb_per_sec());
    for (size_t b = 0; b < latency.size(); ++b) latency[b] += run.latency[b];
    for (const StageRate& stage : run.stages) busy[stage.name] += stage.busy_share / runs.size();
  }
  const double median_rate = Median(rates);
  std::ostringstream text;
  text << "sluice bench: " << args.config.config_path << ", " << runs.size() << " run"
       << (runs.size() == 1 ? "" : "s") << "\n\n";
  text << absl::StrFormat("%-4s %12s %10s %10s %10s %12s %14s\n", "run", "events", "events/s",
                          "MB/s", "cpu s", "peak rss MB", "rss MB/min");
  for (size_t k = 0; k < runs.size(); ++k) {
    const RunResult& run = runs[k];
    text << absl::StrFormat("%-4d %12d %10s %10.1f %10.2f %12.1f %14.2f\n", k + 1, run.events,
                            Rate(run.events_per_sec()), run.mb_per_sec(), run.cpu_seconds,
                            run.peak_rss_bytes / 1e6, run.rss_slope_bytes_per_min / 1e6);
  }
  text << "\nevents/s: median " << Rate(median_rate) << " (min "
       << Rate(*std::min_element(rates.begin(), rates.end())) << ", max "
       << Rate(*std::max_element(rates.begin(), rates.end())) << "), MB/s median "
       << absl::StrFormat("%.1f", Median(mb)) << "\n";
  if (LatencyHistogram::Total(latency) > 0) {
    text << "latency (event timestamp to sink): p50 "
         << Micros(LatencyHistogram::Percentile(latency, 0.5)) << ", p99 "
         << Micros(LatencyHistogram::Percentile(latency, 0.99)) << ", p99.9 "
         << Micros(LatencyHistogram::Percentile(latency, 0.999)) << "\n";
  }
  text << "\nstage            busy   events/s in\n";
  std::string slowest;
  for (const StageRate& stage : runs.back().stages) {
    text << absl::StrFormat("%-16s %4.0f%%   %s\n", stage.name, 100 * busy[stage.name],
                            Rate(stage.events_per_sec));
    if (slowest.empty() || busy[stage.name] > busy[slowest]) slowest = stage.name;
  }
  text << "slowest stage: " << slowest << " (busy " << absl::StrFormat("%.0f", 100 * busy[slowest])
       << "% of the run per instance)\n";
  if (!peers.empty()) {
    text << "\npeer                     events/s   sluice/peer\n";
    for (const PeerResult& peer : peers) {
      const double rate = Median(peer.events_per_sec);
      text << absl::StrFormat("%-24s %9s   %.2f\n", peer.name, Rate(rate),
                              rate > 0 ? median_rate / rate : 0);
    }
  }
  std::cout << text.str() << std::flush;

  if (!args.json_path.empty()) {
    const std::string json = Json(args, runs, latency, peers, median_rate);
    if (args.json_path == "-") {
      std::cout << json;
    } else {
      std::ofstream file(args.json_path);
      file << json;
      if (!file) {
        std::cerr << "sluice bench: cannot write " << args.json_path << "\n";
        return kExitRuntime;
      }
    }
  }
  return kExitOk;
}

}  // namespace sluice::cli
