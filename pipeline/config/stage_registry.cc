#include "pipeline/config/stage_registry.h"

#include <utility>

#include "absl/strings/str_cat.h"

#include "pipeline/string_view_compat.h"

namespace sluice {

void StageTypeContext::RequireSingleInstance(std::string_view why) {
  if (concurrency <= 1) return;
  options.Error("concurrency", absl::StrCat(Av(why), ": concurrency must be 1, not ", concurrency));
}

bool StageType::supports(StageRole role) const {
  switch (role) {
    case StageRole::kProducer:
      return static_cast<bool>(producer);
    case StageRole::kProducerConsumer:
      return static_cast<bool>(producer_consumer);
    case StageRole::kConsumer:
      return static_cast<bool>(consumer);
  }
  return false;
}

StageRegistry& StageRegistry::Global() {
  // Never destroyed: registrations run during static initialisation of other
  // translation units, in an order we do not control.
  static StageRegistry* const registry = new StageRegistry();
  return *registry;
}

StageType& StageRegistry::Entry(std::string_view type) {
  auto it = types_.find(type);
  if (it == types_.end()) {
    it = types_.emplace(std::string(type), StageType{}).first;
    it->second.name = std::string(type);
  }
  return it->second;
}

bool StageRegistry::RegisterProducer(std::string_view type, ProducerMaker maker) {
  Entry(type).producer = std::move(maker);
  return true;
}

bool StageRegistry::RegisterProducerConsumer(std::string_view type, ProducerConsumerMaker maker) {
  Entry(type).producer_consumer = std::move(maker);
  return true;
}

bool StageRegistry::RegisterConsumer(std::string_view type, ConsumerMaker maker) {
  Entry(type).consumer = std::move(maker);
  return true;
}

bool StageRegistry::MarkNamedOutputs(std::string_view type) {
  Entry(type).has_named_outputs = true;
  return true;
}

const StageType* StageRegistry::Find(std::string_view type) const {
  auto it = types_.find(type);
  return it == types_.end() ? nullptr : &it->second;
}

std::vector<std::string> StageRegistry::TypeNames() const {
  std::vector<std::string> names;
  for (const auto& [name, type] : types_) names.push_back(name);
  return names;
}

}  // namespace sluice
