// File: stages/json/route_stage.h
//
// `type: route` sends each event to named outputs chosen by the value of one
// JSON field, as Vector's `route` transform. Downstream stages subscribe to
// an output as `<stage>.<output>`; events whose field matches no route go to
// the output `_unmatched`.
//
//   - name: router
//     type: route
//     field: /type
//     routes:
//       orders: order                  # output name: value, or a list of them
//       refunds: [refund, chargeback]
//   - name: orders_sink
//     subscribe: router.orders
//   - name: others
//     subscribe: router._unmatched
//
// Values compare by JSON type as filter's `equals` does (JsonScalar): `200`
// is the number, `"200"` the string. An event whose field matches several
// routes goes to each of them (one event per output; the input is done when
// all are). A missing field matches no route.
//
// How: the stage emits every event with header `sluice.route: <output>`
// (replacing one set by an earlier route stage), and the config loader makes
// each `<stage>.<output>` subscription a broadcast subscription selecting
// that header. An output nobody subscribes to takes its events as done (they
// are acknowledged, not dead-lettered), as a broadcast does with no taker:
// leave `_unmatched` unsubscribed to discard what matches nothing.
//
// An event whose value is not valid JSON fails with kInvalidArgument and goes
// to the dead-letter queue (not to `_unmatched`).
//
// Thread-compatible, as every stage; instances share only their immutable
// options.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

#include "pipeline/config/stage_registry.h"
#include "pipeline/stage.h"
#include "stages/json/json_path.h"
#include "stages/json/json_scalar.h"

namespace sluice::stages {

// stages/json/json_parser.h: simdjson, kept out of headers other targets
// include (see json_dom.h).
class JsonParser;

// The output of events that match no route.
inline constexpr std::string_view kUnmatchedOutput = "_unmatched";

struct RouteOptions {
  struct Route {
    // Letters, digits, `_` and `-`; not `_unmatched`.
    std::string output;
    // The field values that select it (any of them).
    std::vector<JsonScalar> values;
  };

  // The field routed on. REQUIRED.
  JsonPointer field;
  // In the order written. REQUIRED: at least one.
  std::vector<Route> routes;
};

class RouteStage final : public ProducerConsumer {
 public:
  explicit RouteStage(std::shared_ptr<const RouteOptions> options);
  ~RouteStage() override;

  absl::Status HandleEvents(const EventBatch& batch, Output& out) override;

 private:
  // Emits `event` with its route header set to output `route` (an index in
  // options_->routes, or routes.size() for `_unmatched`).
  void EmitTo(const Event& event, size_t route, Output& out);

  std::shared_ptr<const RouteOptions> options_;
  std::unique_ptr<JsonParser> parser_;
  // Per batch: the header name and each output name copied once into the
  // output batch's memory (empty until first used), so that Emit() copies
  // no header bytes per event.
  std::string_view header_name_;
  std::vector<std::string_view> output_names_;
  // The headers of the event being emitted; Emit() copies the array.
  std::vector<Header> headers_;
};

// The maker registered as `route` (with named outputs).
ProducerConsumerFactory MakeRoute(StageTypeContext& context);

}  // namespace sluice::stages
