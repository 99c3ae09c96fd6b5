#include "pipeline/config/dead_letter_registry.h"

#include <utility>

namespace sluice {

DeadLetterRegistry& DeadLetterRegistry::Global() {
  // Never destroyed, as StageRegistry::Global().
  static DeadLetterRegistry* const registry = new DeadLetterRegistry();
  return *registry;
}

bool DeadLetterRegistry::Register(std::string_view type, DeadLetterMaker maker) {
  makers_[std::string(type)] = std::move(maker);
  return true;
}

const DeadLetterMaker* DeadLetterRegistry::Find(std::string_view type) const {
  auto it = makers_.find(type);
  return it == makers_.end() ? nullptr : &it->second;
}

std::vector<std::string> DeadLetterRegistry::TypeNames() const {
  std::vector<std::string> names;
  for (const auto& [name, maker] : makers_) names.push_back(name);
  return names;
}

}  // namespace sluice
