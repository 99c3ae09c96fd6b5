// File: docs/examples/custom-stage/uppercase_stage.cc
//
// A custom stage, `type: uppercase`, in a library of its own: a
// ProducerConsumer that emits each event with its value in ASCII upper case.
// It registers itself exactly as sluice's built-in stages do; whatever links
// this library must link it whole (see CMakeLists.txt here) so the linker
// keeps the registration line.
//
//   - name: shout
//     type: uppercase
//     subscribe: [read]
//     max_bytes: 1MiB     # optional: longer values fail (dead-lettered)
//
// The stage contract (what each callback may do, how every event must be
// settled) is in pipeline/stage.h; the maker's rules in
// pipeline/config/stage_registry.h.
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

#include "pipeline/config/stage_registry.h"
#include "pipeline/stage.h"

namespace example {
namespace {

class UppercaseStage final : public sluice::ProducerConsumer {
 public:
  explicit UppercaseStage(std::optional<uint64_t> max_bytes) : max_bytes_(max_bytes) {}

  absl::Status HandleEvents(const sluice::EventBatch& batch, sluice::Output& out) override {
    for (const sluice::Event& event : batch) {
      const std::string_view value = event.value();
      if (max_bytes_ && value.size() > *max_bytes_) {
        // One bad event is not a crash: fail it alone.
        out.Fail(event, absl::InvalidArgumentError(
                            absl::StrCat("uppercase: value of ", value.size(),
                                         " bytes exceeds max_bytes (", *max_bytes_, ")")));
        continue;
      }
      // The new value is written straight into the output batch's memory:
      // one copy, no allocation per event.
      absl::Span<char> upper = out.Allocate(value.size());
      for (size_t i = 0; i < value.size(); ++i) {
        upper[i] = absl::ascii_toupper(static_cast<unsigned char>(value[i]));
      }
      out.Emit(event, {.value = std::string_view(upper.data(), upper.size())});
    }
    return absl::OkStatus();
  }

 private:
  const std::optional<uint64_t> max_bytes_;
};

// Runs once per stage of this type when a config is loaded (for `sluice
// validate` too): read the options, report bad values, return the factory
// that makes each instance.
sluice::ProducerConsumerFactory MakeUppercase(sluice::StageTypeContext& context) {
  std::optional<uint64_t> max_bytes = context.options.Bytes("max_bytes");
  if (context.options.failed()) return {};  // the error is already reported
  return [max_bytes](const sluice::StageContext&)
             -> absl::StatusOr<std::unique_ptr<sluice::ProducerConsumer>> {
    return std::make_unique<UppercaseStage>(max_bytes);
  };
}

SLUICE_REGISTER_PRODUCER_CONSUMER("uppercase", MakeUppercase);

}  // namespace
}  // namespace example
