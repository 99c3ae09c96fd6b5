#include "pipeline/dispatcher.h"

#include <cassert>
#include <memory>
#include <string_view>
#include <utility>

#include <xxhash.h>

#include "pipeline/dispatchers/broadcast_dispatcher.h"
#include "pipeline/dispatchers/demand_dispatcher.h"
#include "pipeline/dispatchers/partition_dispatcher.h"

namespace sluice {

std::unique_ptr<Dispatcher> MakeDemandDispatcher() { return std::make_unique<DemandDispatcher>(); }

std::unique_ptr<Dispatcher> MakeBroadcastDispatcher() {
  return std::make_unique<BroadcastDispatcher>();
}

std::unique_ptr<Dispatcher> MakePartitionDispatcher(PartitionKey partition_key) {
  return std::make_unique<PartitionDispatcher>(std::move(partition_key));
}

uint32_t StablePartition(std::string_view key, uint32_t partitions) {
  assert(partitions > 0);
  if (partitions == 0) return 0;
  const XXH64_hash_t hash = XXH3_64bits(key.data(), key.size());
  return static_cast<uint32_t>(hash % partitions);
}

}  // namespace sluice
