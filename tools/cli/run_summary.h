// File: tools/cli/run_summary.h
//
// What `sluice run` prints: the one-line live status (stderr, on a terminal)
// and the final summary, a table of every stage's counts and the balance of
// the sources' events: emitted = acknowledged + dropped + dead-lettered +
// discarded + in flight (left uncommitted, redelivered next run).
//
// Thread-compatible (pure functions of their arguments).
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"

#include "pipeline/config/pipeline_config.h"
#include "pipeline/pipeline.h"

namespace sluice::cli {

// "in 1,234,567  out 1,230,000  dead-lettered 12  1.2M events/s".
std::string StatusLine(std::vector<StageReport> stages, absl::Duration elapsed);

// True when every source event reaches at most one consumer, so that the
// per-stage counts must add up to what the sources emitted.
bool CountsMustBalance(const std::vector<StageGraphEntry>& graph);

// The final summary. `dead_letters` says where failed events went.
std::string Summary(const std::string& pipeline, const std::vector<StageGraphEntry>& graph,
                    const RunReport& report, const std::string& dead_letters);

// emitted == acknowledged + dropped + dead-lettered + discarded + in flight.
bool CountsBalance(const RunReport& report);

}  // namespace sluice::cli
