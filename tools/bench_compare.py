#!/usr/bin/env python3
"""Runs sluice's end-to-end benchmark and its peers alternately, in one run, and
prints each figure with its ratio to the baselines measured in the same run.

The machine is shared and noisy, so absolute rates drift; ratios taken from
interleaved rounds drift much less. Usage (after `cmake --build --preset release`):

    python3 tools/bench_compare.py [--rounds 3] [--build build/release]
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--build", default="build/release")
    args = parser.parse_args()
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
