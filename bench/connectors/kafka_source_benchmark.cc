// The Kafka benchmarks of issues #5 and #7: embedded broker -> sluice's Kafka
// source -> null sink with commits on (configs/bench/kafka-null.yaml, loaded
// as `sluice run` loads it), the same with 1% of events dead-lettered to Kafka
// (configs/bench/kafka-dlq.yaml), side by side with a bare librdkafka consume
// loop (bench/peers/kafka_consume_peer.h), one message per poll and batched,
// on the same data, in the same process.
//
// The data set is produced once, before any benchmark runs, onto the
// process's embedded broker (EmbeddedBroker::Shared(), what `brokers:
// embedded` means): `--partitions` partitions of `--messages_per_partition`
// 100-byte messages, few enough that the mock broker keeps them all (it drops
// the oldest past about 5 MB per partition; the setup checks every partition's
// low watermark is still 0). Each iteration is a fresh consumer group reading
// the whole topic from offset 0, so every run reads the same bytes.
//
// The contenders are registered in turn, `--rounds` times, who goes first
// rotating every round, so that a slow minute on a shared machine hits all.
// Time runs from the first message consumed to the commit confirmed and the
// consumer closed (manual time): the group join before it is the broker's
// delay, the same for all, and would otherwise dominate a sub-second read.
//
//   build/release/bench/sluice_connectors_bench --rounds=5
//   ... --set=stages.source.fetch_buffer=50000   # override the config, as `sluice run --set`
//   python3 tools/bench_compare.py --kafka --rounds 5    # medians and the ratio
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include <librdkafka/rdkafka.h>
#include <sys/resource.h>

#include "bench/peers/kafka_consume_peer.h"
#include "connectors/kafka/embedded_broker.h"
#include "pipeline/log.h"
#include "pipeline/pipeline.h"
#include "tools/cli/commands.h"

namespace sluice {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr size_t kPayloadBytes = 100;
const char* const kTopic = "kafka-bench";

struct BenchSetup {
  int rounds = 5;
  int partitions = 16;
  int64_t messages_per_partition = 30'000;
  std::string bootstrap_servers;
  // Extra `--set` overrides for configs/bench/kafka-null.yaml.
  std::vector<std::string> overrides;

  uint64_t messages() const { return static_cast<uint64_t>(partitions * messages_per_partition); }
};

BenchSetup& Setup() {
  static BenchSetup setup;
  return setup;
}

// Set when a benchmark failed its checks: main() then exits 1, so that the
// smoke test (bench/CMakeLists.txt) fails too. Google Benchmark itself
// reports an error and exits 0.
bool g_failed = false;

void Fail(benchmark::State& state, const char* message) {
  g_failed = true;
  state.SkipWithError(message);
}

struct ClientDeleter {
  void operator()(rd_kafka_t* client) const { rd_kafka_destroy(client); }
};
using Client = std::unique_ptr<rd_kafka_t, ClientDeleter>;

Client MakeClient(rd_kafka_type_t type,
                  const std::vector<std::pair<std::string, std::string>>& properties,
                  std::string& error) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char text[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), text, sizeof(text)) !=
        RD_KAFKA_CONF_OK) {
      error = absl::StrCat(name, ": ", text);
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  }
  rd_kafka_t* client = rd_kafka_new(type, conf, text, sizeof(text));
  if (client == nullptr) {
    error = text;
    rd_kafka_conf_destroy(conf);
  }
  return Client(client);
}

// Produces the data set: message i goes to partition i % partitions, its
// value 100 bytes with i in its first 8, its key "key-<i % 1000>". Returns ""
// or what went wrong.
std::string ProduceDataSet(const BenchSetup& setup) {
  std::string error;
  Client producer =
      MakeClient(RD_KAFKA_PRODUCER,
                 {{"bootstrap.servers", setup.bootstrap_servers}, {"linger.ms", "5"}}, error);
  if (producer == nullptr) return error;
  char value[kPayloadBytes];
  std::memset(value, 'x', sizeof(value));
  const std::string topic = kTopic;
  for (uint64_t i = 0; i < setup.messages(); ++i) {
    std::memcpy(value, &i, sizeof(i));
    const std::string key = absl::StrCat("key-", i % 1000);
    for (;;) {
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
          RD_KAFKA_V_PARTITION(static_cast<int32_t>(i % static_cast<uint64_t>(setup.partitions))),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key.data(), key.size()),
          RD_KAFKA_V_VALUE(value, sizeof(value)), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return rd_kafka_err2str(err);
      rd_kafka_poll(producer.get(), 10);
    }
    rd_kafka_poll(producer.get(), 0);
  }
  if (rd_kafka_flush(producer.get(), 60'000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return "flush timed out";
  }
  // The mock drops a partition's oldest messages past about 5 MB: check it
  // kept them all.
  for (int partition = 0; partition < setup.partitions; ++partition) {
    int64_t low = -1;
    int64_t high = -1;
    if (rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(producer.get(), topic.c_str(),
                                                                   partition, &low, &high, 10'000);
        err) {
      return absl::StrCat("watermarks: ", rd_kafka_err2str(err));
    }
    if (low != 0 || high != setup.messages_per_partition) {
      return absl::StrCat("partition ", partition, " holds offsets [", low, ", ", high,
                          ") instead of [0, ", setup.messages_per_partition,
                          "): the mock broker dropped messages; use fewer per partition");
    }
  }
  return "";
}

// The offsets `group` committed on the topic, summed over its partitions
// (-1 if none or on error): equals the message count when everything read
// was committed.
int64_t CommittedTotal(const BenchSetup& setup, const std::string& group) {
  std::string error;
  Client consumer =
      MakeClient(RD_KAFKA_CONSUMER,
                 {{"bootstrap.servers", setup.bootstrap_servers}, {"group.id", group}}, error);
  if (consumer == nullptr) return -1;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(setup.partitions);
  for (int partition = 0; partition < setup.partitions; ++partition) {
    rd_kafka_topic_partition_list_add(list, kTopic, partition);
  }
  int64_t total = -1;
  if (rd_kafka_committed(consumer.get(), list, 10'000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    total = 0;
    for (int i = 0; i < list->cnt; ++i) {
      if (list->elems[i].offset >= 0) total += list->elems[i].offset;
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
  return total;
}

// CPU seconds of the whole process (every thread: librdkafka's, the broker's,
// sluice's workers) so far.
double ProcessCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& time) {
    return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::string FreshGroup(const std::string& who) {
  static int next = 0;
  return absl::StrCat("bench-", who, "-", ++next);
}

// One pass of the bare loop over the data set: one message per poll, or up
// to `batch` per rd_kafka_consume_batch_queue().
void RunBareConsume(benchmark::State& state, size_t batch) {
  const BenchSetup& setup = Setup();
  for (auto _ : state) {
    const std::string group = FreshGroup("bare");
    const double cpu_before = ProcessCpuSeconds();
    const peers::BareKafkaConsumeResult result =
        peers::BareKafkaConsume({.bootstrap_servers = setup.bootstrap_servers,
                                 .topic = kTopic,
                                 .group = group,
                                 .expected = setup.messages(),
                                 .batch = batch});
    if (!result.error.empty()) {
      Fail(state, result.error.c_str());
      return;
    }
    state.SetIterationTime(result.seconds);
    state.counters["process_cpu_s"] = ProcessCpuSeconds() - cpu_before;
    state.counters["consume_s"] = result.consume_seconds;
    state.counters["close_s"] = result.close_seconds;
    benchmark::DoNotOptimize(result.checksum);
    if (CommittedTotal(setup, group) != static_cast<int64_t>(setup.messages())) {
      Fail(state, "bare loop: committed offsets do not cover the data set");
      return;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * setup.messages()));
  state.SetBytesProcessed(
      static_cast<int64_t>(state.iterations() * setup.messages() * kPayloadBytes));
}

void BM_KafkaBareConsume(benchmark::State& state) { RunBareConsume(state, 0); }

// The batch API: a stronger baseline than one message per poll.
void BM_KafkaBareConsumeBatch(benchmark::State& state) { RunBareConsume(state, 1000); }

uint64_t StageCount(const std::vector<StageReport>& stages, const std::string& name, bool in) {
  for (const StageReport& stage : stages) {
    if (stage.name == name) return in ? stage.totals.events_in : stage.totals.events_out;
  }
  return 0;
}

// Sums a counter over every stage (dead letters are counted where they fail).
uint64_t DeadLettered(const std::vector<StageReport>& stages) {
  uint64_t total = 0;
  for (const StageReport& stage : stages) total += stage.totals.events_dead_lettered;
  return total;
}

// One run of a Kafka-source config over the data set (`config` under
// configs/bench/): started, then drained once the null sink and the dead
// letters account for every message; Wait() returns after the source's
// synchronous commit and consumer close in Stop(). With `dead_letters` the
// config fails about 1% of events to a Kafka DLQ topic on the same broker
// (kafka-dlq.yaml); without, it must fail none.
void RunSluiceKafka(benchmark::State& state, const char* config, bool dead_letters) {
  const BenchSetup& setup = Setup();
  const std::string data_dir = absl::StrCat("/tmp/sluice-kafka-bench-", ::getpid());
  for (auto _ : state) {
    const std::string group = FreshGroup("sluice");
    const double cpu_before = ProcessCpuSeconds();
    cli::ConfigArgs args;
    args.config_path = absl::StrCat(SLUICE_SOURCE_DIR, "/configs/bench/", config);
    args.overrides = {absl::StrCat("stages.source.group=", group),
                      absl::StrCat("stages.source.topics=", kTopic),
                      absl::StrCat("data_dir=", data_dir)};
    args.overrides.insert(args.overrides.end(), setup.overrides.begin(), setup.overrides.end());
    absl::StatusOr<cli::LoadedConfig> loaded = cli::LoadConfig(args);
    if (!loaded.ok()) {
      Fail(state, std::string(loaded.status().message()).c_str());
      return;
    }
    absl::StatusOr<std::unique_ptr<Pipeline>> pipeline = MakePipeline(std::move(loaded->config));
    if (!pipeline.ok() || !(*pipeline)->Start().ok()) {
      Fail(state, "pipeline failed to start");
      return;
    }
    // Polled every 1 ms: the first event emitted starts the clock; the last
    // one at the sink or confirmed in the DLQ stops waiting.
    SteadyClock::time_point first{};
    bool started = false;
    const SteadyClock::time_point deadline = SteadyClock::now() + std::chrono::seconds(120);
    while (SteadyClock::now() < deadline) {
      const std::vector<StageReport> now = (*pipeline)->Snapshot();
      if (!started && StageCount(now, "source", /*in=*/false) > 0) {
        first = SteadyClock::now();
        started = true;
      }
      if (StageCount(now, "sink", /*in=*/true) + DeadLettered(now) >= setup.messages()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const SteadyClock::time_point last = SteadyClock::now();
    (*pipeline)->Drain();
    const RunReport report = (*pipeline)->Wait();
    const SteadyClock::time_point end = SteadyClock::now();
    state.counters["process_cpu_s"] = ProcessCpuSeconds() - cpu_before;
    state.counters["consume_s"] = std::chrono::duration<double>(last - first).count();
    state.counters["close_s"] = std::chrono::duration<double>(end - last).count();
    state.counters["dead_lettered"] = static_cast<double>(report.events_dead_lettered());
    pipeline->reset();
    const uint64_t done = report.events_acknowledged() + report.events_dead_lettered();
    const bool dead_letter_share_ok =
        dead_letters ? report.events_dead_lettered() > 0 &&
                           report.events_dead_lettered() * 50 < setup.messages()  // under 2%
                     : report.events_dead_lettered() == 0;
    if (!report.status.ok() || done != setup.messages() ||
        report.events_emitted() != setup.messages() || !dead_letter_share_ok) {
      Fail(state,
           absl::StrCat("sluice: ", report.events_acknowledged(), " acknowledged + ",
                        report.events_dead_lettered(), " dead-lettered of ", setup.messages(), ", ",
                        report.events_emitted(), " emitted: ", report.status.ToString())
               .c_str());
      return;
    }
    state.SetIterationTime(std::chrono::duration<double>(end - first).count());
    if (CommittedTotal(setup, group) != static_cast<int64_t>(setup.messages())) {
      Fail(state, "sluice: committed offsets do not cover the data set");
      return;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * setup.messages()));
  state.SetBytesProcessed(
      static_cast<int64_t>(state.iterations() * setup.messages() * kPayloadBytes));
}

void BM_KafkaSluiceSourceNull(benchmark::State& state) {
  RunSluiceKafka(state, "kafka-null.yaml", /*dead_letters=*/false);
}

// The same with 1% of events failed and dead-lettered to Kafka.
void BM_KafkaSluiceSourceDlq(benchmark::State& state) {
  RunSluiceKafka(state, "kafka-dlq.yaml", /*dead_letters=*/true);
}

// "--name=value" among the arguments Google Benchmark left, as an integer.
bool IntFlag(const std::string& arg, const std::string& name, int64_t& value) {
  const std::string prefix = absl::StrCat("--", name, "=");
  if (arg.compare(0, prefix.size(), prefix) != 0) return false;
  return absl::SimpleAtoi(arg.substr(prefix.size()), &value);
}

}  // namespace
}  // namespace sluice

int main(int argc, char** argv) {
  using namespace sluice;
  benchmark::Initialize(&argc, argv);
  // The DLQ shape dead-letters ~1% of events, each a warning line: errors only.
  ConfigureLogging({.format = LogFormat::kText, .level = spdlog::level::err});
  BenchSetup& setup = Setup();
  for (int i = 1; i < argc; ++i) {
    int64_t value = 0;
    if (IntFlag(argv[i], "rounds", value)) {
      setup.rounds = static_cast<int>(value);
    } else if (IntFlag(argv[i], "partitions", value)) {
      setup.partitions = static_cast<int>(value);
    } else if (IntFlag(argv[i], "messages_per_partition", value)) {
      setup.messages_per_partition = value;
    } else if (std::string arg = argv[i]; arg.rfind("--set=", 0) == 0) {
      setup.overrides.push_back(arg.substr(6));
    } else {
      std::fprintf(stderr,
                   "unknown argument %s (this bench takes Google Benchmark's flags and "
                   "--rounds=N --partitions=N --messages_per_partition=N --set=path=value)\n",
                   argv[i]);
      return 2;
    }
  }
  absl::StatusOr<connectors::kafka::EmbeddedBroker*> broker =
      connectors::kafka::EmbeddedBroker::Shared();
  if (!broker.ok()) {
    std::fprintf(stderr, "embedded broker: %s\n", std::string(broker.status().message()).c_str());
    return 1;
  }
  setup.bootstrap_servers = (*broker)->bootstrap_servers();
  if (absl::Status created = (*broker)->CreateTopic(kTopic, setup.partitions); !created.ok()) {
    std::fprintf(stderr, "%s\n", std::string(created.message()).c_str());
    return 1;
  }
  const SteadyClock::time_point produce_start = SteadyClock::now();
  if (std::string error = ProduceDataSet(setup); !error.empty()) {
    std::fprintf(stderr, "producing the data set: %s\n", error.c_str());
    return 1;
  }
  std::fprintf(stderr, "data set: %llu messages of %zu bytes on %d partitions, produced in %.1fs\n",
               static_cast<unsigned long long>(setup.messages()), kPayloadBytes, setup.partitions,
               std::chrono::duration<double>(SteadyClock::now() - produce_start).count());
  // Alternate, and rotate who goes first every round.
  for (int round = 1; round <= setup.rounds; ++round) {
    const std::pair<const char*, void (*)(benchmark::State&)> contenders[] = {
        {"BM_KafkaBareConsume", BM_KafkaBareConsume},
        {"BM_KafkaBareConsumeBatch", BM_KafkaBareConsumeBatch},
        {"BM_KafkaSluiceSourceNull", BM_KafkaSluiceSourceNull},
        {"BM_KafkaSluiceSourceDlq", BM_KafkaSluiceSourceDlq}};
    constexpr int kContenders = std::size(contenders);
    for (int i = 0; i < kContenders; ++i) {
      const auto& [name, function] = contenders[(round + i) % kContenders];
      benchmark::RegisterBenchmark(absl::StrCat(name, "/round:", round).c_str(), function)
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return g_failed ? 1 : 0;
}
