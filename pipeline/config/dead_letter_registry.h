// File: pipeline/config/dead_letter_registry.h
//
// The DeadLetterRegistry maps a `dead_letter: {type: ...}` block to the code
// that makes that backend (`memory`, `file`, `kafka`), the same way the
// StageRegistry maps stage types.
//
//   std::shared_ptr<DeadLetterQueue> MakeFileQueue(DeadLetterTypeContext& context) {
//     std::optional<std::string> path = context.options.String("path");
//     ...
//   }
//   SLUICE_REGISTER_DEAD_LETTER("file", MakeFileQueue);
//
// Makers follow the StageRegistry's rules: read options through the reader,
// return null on invalid options, do no I/O (open in the queue's first Write()
// or a Start of its own).
//
// Thread-safe as the StageRegistry.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/config/option_reader.h"
#include "pipeline/dead_letter_queue.h"
#include "pipeline/status_macros.h"

namespace sluice {

struct DeadLetterTypeContext {
  std::string_view pipeline_name;
  std::string_view config_dir;
  std::string_view data_dir;
  // The `dead_letter` map; `type` is already known.
  OptionReader& options;
};

using DeadLetterMaker = std::function<std::shared_ptr<DeadLetterQueue>(DeadLetterTypeContext&)>;

class DeadLetterRegistry {
 public:
  static DeadLetterRegistry& Global();

  bool Register(std::string_view type, DeadLetterMaker maker);
  // Null if no such type.
  const DeadLetterMaker* Find(std::string_view type) const;
  std::vector<std::string> TypeNames() const;

 private:
  std::map<std::string, DeadLetterMaker, std::less<>> makers_;
};

}  // namespace sluice

#define SLUICE_REGISTER_DEAD_LETTER(type, maker)                                            \
  [[maybe_unused]] static const bool SLUICE_INTERNAL_CONCAT(sluice_registered_, __LINE__) = \
      ::sluice::DeadLetterRegistry::Global().Register(type, maker)
