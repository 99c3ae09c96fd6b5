// File: tools/cli/top_render.h
//
// `sluice top`'s tables: a TopView (tools/cli/top_model.h) as plain text, for
// `--once` and pipes, or as one terminal frame that overwrites the previous
// one in place (ANSI cursor-home and clear-to-end-of-line, no full clear, so
// the screen does not flicker).
//
//   sluice top: http://127.0.0.1:9464, sluice 0.1.0, up 1m 05s, rates over 1.0s
//   pipeline "orders"
//   STAGE      INSTANCE   IN/s    OUT/s  MAILBOX  DEMAND  RESTARTS  DEAD-LETTERED
//   generator  0             0   10,000        0       0         0              0
//   parse      0        10,000    9,990       12   1,000         0             10
//
//   KAFKA PARTITION  STAGE       INSTANCE  LAG  COMMITTED  PAUSED
//   orders/0         from_kafka  0          12      1,000  no
//
// Rates are rounded to whole events per second; counts and gauges are shown
// whole, with thousands separators.
//
// Functions are thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "tools/cli/top_model.h"

namespace sluice::cli {

// The tables as plain text, one header line first; `address` is what was
// scraped ("127.0.0.1:9464").
std::string RenderTopText(const TopView& view, std::string_view address);

// The same text as one terminal frame: cursor home, every line cleared to its
// end, the rest of the screen cleared below, and a last line saying how to
// stop.
std::string RenderTopFrame(const TopView& view, std::string_view address);

}  // namespace sluice::cli
