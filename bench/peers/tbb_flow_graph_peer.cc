// File: bench/peers/tbb_flow_graph_peer.cc
//
// Peer "oneTBB flow graph, one event per message": the cost of a task-based
// dataflow engine that moves events one by one.
//
// What it measures: a tbb::flow::graph
//
//   input_node<PeerEvent> (generator) -> function_node<PeerEvent, PeerEvent> (map)
//                                     -> function_node<PeerEvent, continue_msg> (sink)
//
// where every message is one PeerEvent (bench/peers/peer_event.h) passed BY
// VALUE: the idiomatic flow-graph message is a small copyable struct, and a
// 128-byte copy per edge is cheaper than a shared_ptr's allocation and atomic
// reference count per event. The graph runs in TBB's default arena (all
// cores). Each message is at least one TBB task: the input_node spawns a task
// per item, and each function_node call is a task or a task bypass.
//
// Variants:
//   * Serial:          map concurrency serial, default (queueing) policy: order
//                      is kept, as sluice keeps it for one map instance.
//   * Unlimited:       map concurrency unlimited: the map may run on every
//                      worker at once; order is not kept (the sink does not
//                      care, its totals are order-free).
//   * SerialRejecting: serial map with the `rejecting` policy, the flow-graph
//                      idiom for backpressure: the input_node holds its one
//                      item until the map pulls it, so no queue forms in
//                      front of the map.
// The sink is serial and queueing in all three (a rejecting sink would make the
// map's output drop messages: function_node does not buffer its output).
//
// Why it is a fair baseline: same events, same per-event work, same totals
// check as sluice's generator -> map -> sink bench; oneTBB is the library
// sluice's own scheduler runs on, so this is what "use the flow graph, one
// event per message" costs on the same runtime. It is the slow baseline the
// design's "events move in batches, never one by one" rule is measured against.

#include <cstdint>

#include "benchmark/benchmark.h"
#include "oneapi/tbb/flow_graph.h"

#include "bench/peers/peer_event.h"

namespace sluice::bench::peers {
namespace {

namespace flow = tbb::flow;

constexpr int64_t kEvents = 500'000;

template <typename MapPolicy>
void RunFlowGraph(benchmark::State& state, size_t map_concurrency) {
  const auto events = static_cast<uint64_t>(state.range(0));
  const SinkTotals expected = ExpectedTotals(events);

  for (auto _ : state) {
    SinkTotals totals;
    uint64_t next = 0;

    flow::graph graph;
    flow::input_node<PeerEvent> generator(graph, [&](tbb::flow_control& control) {
      PeerEvent event;
      if (next == events) {
        control.stop();
        return event;
      }
      FillEvent(next++, event);
      return event;
    });
    flow::function_node<PeerEvent, PeerEvent, MapPolicy> map(graph, map_concurrency,
                                                             [](PeerEvent event) {
                                                               MapEvent(event);
                                                               return event;
                                                             });
    flow::function_node<PeerEvent, flow::continue_msg> sink(graph, flow::serial,
                                                            [&](const PeerEvent& event) {
                                                              totals.Consume(event);
                                                              return flow::continue_msg();
                                                            });
    flow::make_edge(generator, map);
    flow::make_edge(map, sink);
    generator.activate();
    graph.wait_for_all();

    benchmark::DoNotOptimize(totals);
    if (!CheckTotals(state, totals, expected)) return;
  }
  ReportProcessed(state, static_cast<int64_t>(events));
}

void BM_TbbFlowGraph_Serial(benchmark::State& state) {
  RunFlowGraph<flow::queueing>(state, flow::serial);
}
void BM_TbbFlowGraph_Unlimited(benchmark::State& state) {
  RunFlowGraph<flow::queueing>(state, flow::unlimited);
}
void BM_TbbFlowGraph_SerialRejecting(benchmark::State& state) {
  RunFlowGraph<flow::rejecting>(state, flow::serial);
}

BENCHMARK(BM_TbbFlowGraph_Serial)
    ->ArgNames({"events"})
    ->Arg(kEvents)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TbbFlowGraph_Unlimited)
    ->ArgNames({"events"})
    ->Arg(kEvents)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TbbFlowGraph_SerialRejecting)
    ->ArgNames({"events"})
    ->Arg(kEvents)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::bench::peers
