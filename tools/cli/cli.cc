#include "tools/cli/cli.h"

#include <iostream>
#include <string>

#include "CLI/CLI.hpp"

#include "pipeline/log.h"
#include "tools/cli/commands.h"

namespace sluice::cli {
namespace {

constexpr const char* kFooter = R"(Exit codes: 0 ok, 1 runtime failure, 2 usage or config error,
3 `run`: a drain reached shutdown_timeout with events unfinished (left uncommitted).
Docs: docs/configuration.md, docs/stages.md.
)";

void AddConfigArgs(CLI::App& command, ConfigArgs& args) {
  command.add_option("config", args.config_path, "Pipeline file (YAML)")->required();
  command.add_option("--set", args.overrides,
                     "Override a config value: path=value, e.g. stages.parse.concurrency=4 "
                     "(repeatable)");
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app("sluice: a staged stream-processing engine", "sluice");
  app.footer(kFooter);
  app.require_subcommand(1);
  app.set_version_flag("--version", "sluice 0.1.0");

  RunArgs run_args;
  CLI::App* run =
      app.add_subcommand("run", "Run a pipeline until its sources end or SIGINT/SIGTERM");
  AddConfigArgs(*run, run_args.config);
  run->add_flag("--status", run_args.force_status,
                "Print the live status line even when stderr is not a terminal");
  run->add_flag("--quiet", run_args.quiet, "No live status line");
  run->add_option("--metrics-address", run_args.metrics_address,
                  "Serve /metrics, /healthz, /readyz on HOST:PORT (port 0: any free; printed "
                  "on stderr); overrides the config's metrics.address");
  run->add_option("--log-format", run_args.log_format,
                  "Log lines as text or json (overrides the config's log.format)")
      ->check(CLI::IsMember({"text", "json"}));
  run->footer(R"(Examples:
  sluice run configs/quickstart.yaml
  sluice run configs/file-json.yaml --set stages.parse.concurrency=4
On SIGINT/SIGTERM the sources stop, in-flight events finish (within shutdown_timeout),
sinks flush, offsets commit, and a summary is printed (exit 0). A second signal stops
at once; unfinished events stay uncommitted. Events still unfinished when
shutdown_timeout passes are reported by count, left uncommitted for redelivery, and the
exit code is 3.)");

  ValidateArgs validate_args;
  CLI::App* validate = app.add_subcommand("validate", "Check a pipeline file without running it");
  AddConfigArgs(*validate, validate_args.config);
  validate->add_flag("--print", validate_args.print,
                     "Print the resolved config (variables applied, secrets masked)");
  validate->add_flag("--connect", validate_args.connect,
                     "Also check that Kafka brokers answer, topics exist and dead-letter "
                     "targets are writable");
  validate->add_option("--timeout", validate_args.timeout,
                       "With --connect: how long each broker may take to answer (default 10s)");
  validate->footer(R"(Examples:
  sluice validate configs/quickstart.yaml
  sluice validate pipeline.yaml --print --set name=staging
  sluice validate pipeline.yaml --connect --timeout 3s
Every error is printed as file:line:column: message; exit code 2 if any (with --connect,
an unreachable broker, a missing topic or an unwritable dead-letter target too).)");

  GraphArgs graph_args;
  CLI::App* graph = app.add_subcommand("graph", "Print the topology of a pipeline");
  AddConfigArgs(*graph, graph_args.config);
  graph->add_option("--format", graph_args.format, "text or dot (Graphviz)")
      ->check(CLI::IsMember({"text", "dot"}));
  graph->footer(R"(Examples:
  sluice graph configs/quickstart.yaml
  sluice graph configs/quickstart.yaml --format dot | dot -Tsvg > pipeline.svg)");

  BenchArgs bench_args;
  CLI::App* bench = app.add_subcommand("bench", "Measure a pipeline's events per second");
  AddConfigArgs(*bench, bench_args.config);
  bench->add_option("--events", bench_args.events,
                    "Events per run: sets `count` on every generator source");
  bench->add_option("--duration", bench_args.duration,
                    "Run each run this long, then drain (10s, 500ms)");
  bench->add_option("--warmup", bench_args.warmup, "One run of this length first, not counted");
  bench->add_option("--runs", bench_args.runs, "Runs to take the median over")
      ->check(CLI::PositiveNumber);
  bench->add_option("--json", bench_args.json_path,
                    "Also write the results as JSON to this file (- for stdout)");
  bench->add_flag("--compare", bench_args.compare,
                  "Run the in-memory peers (bench/peers/) alternately and print the ratios");
  bench->footer(R"(Examples:
  sluice bench configs/bench/generator-map-null.yaml --events 10000000 --runs 5
  sluice bench configs/bench/generator-map-null.yaml --events 20000000 --compare --json out.json
  sluice bench configs/bench/json.yaml --duration 10s --warmup 2s

Reports events/s and MB/s (median, min, max over the runs), end-to-end latency
percentiles from event timestamps, CPU time, peak RSS, per-stage rates and the
slowest stage. The JSON fields are documented in docs/BENCHMARKS.md. Exit code 2
for a usage or config error, 1 if a run fails.)");

  TestArgs test_args;
  CLI::App* test = app.add_subcommand("test", "Run a pipeline's unit tests");
  AddConfigArgs(*test, test_args.config);
  test->add_option("tests", test_args.tests_path,
                   "Tests file (YAML); defaults to <config stem>_test.yaml beside the config");
  test->footer(R"(Examples:
  sluice test configs/file-json.yaml
  sluice test pipeline.yaml my_tests.yaml
A test names a path of stages, input events, and the expected output, dropped count and
dead letters (with a substring of their error). See docs/testing.md.
Exit code 1 if any test fails, with a diff of what differed.)");

  BrokerArgs broker_args;
  CLI::App* broker = app.add_subcommand(
      "broker", "Run an embedded Kafka broker (librdkafka's mock cluster) until SIGINT/SIGTERM");
  broker->add_option("--topics", broker_args.topics,
                     "Topics to create: name[:partitions],... (partitions default to 4)");
  broker->add_option("--brokers", broker_args.brokers, "Brokers in the cluster (default 1)")
      ->check(CLI::Range(1, 64));
  broker
      ->add_option("--port", broker_args.port,
                   "NOT SUPPORTED: librdkafka 2.0.2's mock cluster picks its own ports; "
                   "read the address from the first line of stdout")
      ->check(CLI::Range(1, 65535));
  broker->footer(R"(Examples:
  sluice broker --topics orders:4,dead-letters:1
  coproc sluice broker --topics in:1,out:1; read -r ADDR <&"${COPROC[0]}"   # bash
The first line of stdout is the bootstrap address (host:port, or a comma list with
--brokers N), alone, for scripts; everything else goes to stderr. Brokers listen on
127.0.0.1 at ports the mock cluster picks. Everything is in memory, a few MB per
partition (older messages are dropped), nothing on disk: see docs/kafka.md.)");

  TopArgs top_args;
  CLI::App* top = app.add_subcommand(
      "top", "Watch a running pipeline: per-stage rates, mailboxes, demand, Kafka lag");
  top->add_option("--address", top_args.address,
                  "HOST:PORT of the pipeline's metrics endpoint (default 127.0.0.1:9464)");
  top->add_option("--token", top_args.token,
                  "Bearer token for the endpoint (default: $SLUICE_METRICS_TOKEN)");
  top->add_flag("--once", top_args.once,
                "Print one plain-text table (two scrapes --interval apart) and exit");
  top->add_option("--interval", top_args.interval_seconds,
                  "Seconds between scrapes, and the window of the rates (default 1)")
      ->check(CLI::PositiveNumber);
  top->footer(R"(Examples:
  sluice run pipeline.yaml --metrics-address 127.0.0.1:9464 &
  sluice top --address 127.0.0.1:9464
  sluice top --once --interval 2 | grep parse
Rates are events/s between two scrapes of /metrics. On a terminal the view redraws in
place until Ctrl-C; over a pipe it prints a plain-text table every --interval. Exit code
1 when nothing answers at the address or the token is refused.)");

  CLI::App* dlq = app.add_subcommand("dlq", "Inspect or replay a dead-letter queue");
  dlq->require_subcommand(1);
  auto add_kafka_args = [](CLI::App& command, DlqKafkaArgs& args) {
    command.add_option("--brokers", args.brokers,
                       "Kafka bootstrap servers, for a kafka://topic queue (host:port,...)");
    command.add_option("-X,--property", args.properties,
                       "A librdkafka property name=value, e.g. -X security.protocol=sasl_ssl "
                       "(repeatable)");
    command.add_option("--config", args.config_path,
                       "Take brokers and properties from this pipeline file's dead_letter block");
    command.add_option("--timeout", args.timeout,
                       "How long the brokers may take to answer (default 10s)");
  };

  DlqInspectArgs inspect_args;
  CLI::App* inspect = dlq->add_subcommand(
      "inspect", "Summarise a dead-letter queue: counts by stage and error, time range, samples");
  inspect->add_option("dlq", inspect_args.dlq, "A dead-letter file, or kafka://topic")->required();
  add_kafka_args(*inspect, inspect_args.kafka);
  inspect->add_flag("--json", inspect_args.json, "One JSON object on stdout, for scripts");
  inspect
      ->add_option("--samples", inspect_args.samples,
                   "Sample records to show with their headers (default 3)")
      ->check(CLI::Range(0, 1000000));
  inspect->footer(R"(Examples:
  sluice dlq inspect sluice-data/orders/dead-letters.log
  sluice dlq inspect kafka://orders.dlq --brokers kafka-1:9092 --samples 10
  sluice dlq inspect kafka://orders.dlq --config pipeline.yaml --json | jq .by_error
A damaged file (corrupt records, a torn tail) is reported and skipped, never fatal.
Fields of --json: docs/dead-letters.md.)");

  DlqReplayArgs replay_args;
  CLI::App* replay = dlq->add_subcommand(
      "replay", "Re-publish dead letters to their source topic (or --to), resumably");
  replay->add_option("dlq", replay_args.dlq, "A dead-letter file, or kafka://topic")->required();
  add_kafka_args(*replay, replay_args.kafka);
  replay->add_option("--to", replay_args.to,
                     "Publish every record to this topic instead of its source topic");
  replay->add_option("--stage", replay_args.stage, "Only records that failed in this stage");
  replay->add_option("--error", replay_args.error_regex,
                     "Only records whose error matches this RE2 pattern (partial match)");
  replay->add_option("--since", replay_args.since,
                     "Only records that failed at or after this time (RFC 3339, a date, or a "
                     "duration ago: 2h)");
  replay->add_option("--until", replay_args.until, "Only records that failed before this time");
  replay->add_option("--offsets", replay_args.offsets,
                     "Only these positions: A-B (inclusive), A- or A; Kafka offsets (in every "
                     "partition) or file record indexes");
  replay->add_flag("--dry-run", replay_args.dry_run,
                   "Print what would be replayed or parked; send and commit nothing");
  replay->add_option("--rate", replay_args.rate, "At most this many records per second")
      ->check(CLI::PositiveNumber);
  replay->add_option("--max", replay_args.max, "Send at most this many records in this run")
      ->check(CLI::PositiveNumber);
  replay
      ->add_option("--max-replays", replay_args.max_replays,
                   "Park records already replayed this many times (default 3)")
      ->check(CLI::Range(1, 1000000));
  replay->add_option("--park", replay_args.park,
                     "Where parked records go: a topic (Kafka DLQ; default <topic>.parked) or a "
                     "file (file DLQ; default <path>.parked)");
  replay->add_flag("--from-start", replay_args.from_start,
                   "Ignore the stored position and read the queue from its beginning");
  replay
      ->add_option("--in-flight", replay_args.in_flight,
                   "Records published and not yet confirmed, at most (default 500)")
      ->check(CLI::Range(1, 1000000));
  replay->footer(R"(Examples:
  sluice dlq replay kafka://orders.dlq --brokers kafka-1:9092 --dry-run
  sluice dlq replay kafka://orders.dlq --brokers kafka-1:9092 --stage parse --error 'amount'
  sluice dlq replay sluice-data/orders/dead-letters.log --brokers kafka-1:9092 --to orders --rate 500
The position is committed only past confirmed publishes (group sluice-replay-<topic>, or
<file>.replay-position): run it again after an interruption and it continues; a record
replayed --max-replays times is parked instead. See docs/dead-letters.md.)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);
  } catch (const CLI::ParseError& error) {
    app.exit(error);
    return kExitConfig;
  }
  // Every command logs to stderr, warnings and up: stdout is its output
  // (`sluice test`'s report, `bench --json -`). `run` and `validate` then
  // apply the config's `log:` block (pipeline/log.h).
  ConfigureLogging({.format = LogFormat::kText, .level = spdlog::level::warn});
  if (*run) return Run(run_args);
  if (*validate) return Validate(validate_args);
  if (*graph) return Graph(graph_args);
  if (*bench) return Bench(bench_args);
  if (*test) return Test(test_args);
  if (*broker) return Broker(broker_args);
  if (*top) return Top(top_args);
  if (*inspect) return DlqInspect(inspect_args);
  if (*replay) return DlqReplay(replay_args);
  return kExitConfig;
}

}  // namespace sluice::cli
