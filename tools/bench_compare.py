#!/usr/bin/env python3
"""Runs sluice's end-to-end benchmark and its peers alternately, in one run, and
prints each figure with its ratio to the baselines measured in the same run.

The machine is shared and noisy, so absolute rates drift; ratios taken from
interleaved rounds drift much less. Usage (after `cmake --build --preset release`):

    python3 tools/bench_compare.py [--rounds 3] [--build build/release]
    python3 tools/bench_compare.py --kafka [--rounds 7] [--set stages.source.fetch_buffer=N]

--kafka runs the Kafka shapes instead: sluice's Kafka source -> null sink (commits on),
the same with 1% of events dead-lettered to a Kafka topic, and the bare librdkafka
consume loop, alternately in one process on one embedded broker and one data set
(bench/connectors/kafka_source_benchmark.cc), and prints the medians, each sluice
shape's rate as a share of the bare loop's, and the per-round ratios.
"""
import argparse
import json
import statistics
import subprocess
import sys

SLUICE = ("bench/sluice_pipeline_bench", "BM_PipelineGeneratorMapNull/2000/")
PEERS = [
    ("bench/sluice_peers_bench", "BM_BareHandoff_Spin/batch:1000/"),
    ("bench/sluice_peers_bench", "BM_BareHandoff_Blocking/batch:1000/"),
    ("bench/sluice_peers_bench", "BM_TbbFlowGraph_Serial/"),
    ("bench/sluice_peers_bench", "BM_TbbParallelPipeline/batch:1000/"),
]


def run(build, binary, name_filter):
    out = subprocess.run(
        [f"{build}/{binary}", f"--benchmark_filter={name_filter}", "--benchmark_format=json",
         "--benchmark_min_time=1"],
        check=True, capture_output=True, text=True).stdout
    results = {}
    for bench in json.loads(out)["benchmarks"]:
        results[bench["name"]] = bench["items_per_second"]
    return results


KAFKA_BENCH = "bench/sluice_connectors_bench"
# The bare loops: one message per poll, and the batch API. Targets are against
# the faster of the two in the run.
KAFKA_BARE = ["BM_KafkaBareConsume", "BM_KafkaBareConsumeBatch"]
# sluice's shapes, each with its target share of the bare loop (issue #7).
KAFKA_SLUICE = [("BM_KafkaSluiceSourceNull", 0.90), ("BM_KafkaSluiceSourceDlq", 0.80)]


def kafka(args):
    command = [f"{args.build}/{KAFKA_BENCH}", f"--rounds={args.rounds}",
               "--benchmark_format=json"] + [f"--set={override}" for override in args.set]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    names = KAFKA_BARE + [name for name, _ in KAFKA_SLUICE]
    rates = {name: {} for name in names}
    cpu = {name: [] for name in names}
    for bench in json.loads(out)["benchmarks"]:
        if "error_message" in bench:
            sys.exit(f"{bench['name']}: {bench['error_message']}")
        name, round_name = bench["name"].split("/")[:2]
        rates[name][round_name] = bench["items_per_second"]
        cpu[name].append(bench["process_cpu_s"])
    print(f"{'benchmark':<40} {'median events/s':>16} {'min':>8} {'max':>8} {'cpu s':>7}")
    for name in names:
        values = rates[name].values()
        print(f"{name:<40} {statistics.median(values) / 1e6:>14.2f} M {min(values) / 1e6:>7.2f}M"
              f" {max(values) / 1e6:>7.2f}M {statistics.median(cpu[name]):>7.2f}")
    baseline = max(KAFKA_BARE, key=lambda name: statistics.median(rates[name].values()))
    bare = statistics.median(rates[baseline].values())
    print(f"baseline: {baseline}, the faster bare loop")
    for name, target in KAFKA_SLUICE:
        sluice = statistics.median(rates[name].values())
        pairs = [rates[name][r] / rates[baseline][r] for r in rates[name]]
        print(f"{name} / bare loop (medians): {sluice / bare:.2f} (target {target:.2f})")
        print("  per round: " + " ".join(f"{ratio:.2f}" for ratio in pairs) +
              f"  (median {statistics.median(pairs):.2f})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--build", default="build/release")
    parser.add_argument("--kafka", action="store_true",
                        help="the Kafka source against the bare librdkafka loop")
    parser.add_argument("--set", action="append", default=[],
                        help="with --kafka: override configs/bench/kafka-null.yaml (repeatable)")
    args = parser.parse_args()
    if args.kafka:
        kafka(args)
        return
    samples = {}
    for round_index in range(args.rounds):
        for binary, name_filter in [SLUICE] + PEERS:
            for name, rate in run(args.build, binary, name_filter).items():
                samples.setdefault(name, []).append(rate)
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    medians = {name: statistics.median(rates) for name, rates in samples.items()}
    sluice = next(v for k, v in medians.items() if k.startswith(SLUICE[1]))
    print(f"{'benchmark':<70} {'median events/s':>16} {'sluice / this':>14}")
    for name, rate in medians.items():
        print(f"{name:<70} {rate / 1e6:>14.1f} M {sluice / rate:>13.2f}x")


if __name__ == "__main__":
    main()
