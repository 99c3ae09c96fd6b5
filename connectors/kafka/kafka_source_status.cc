#include "connectors/kafka/kafka_source_status.h"

#include <algorithm>
#include <tuple>
#include <utility>

namespace sluice::connectors::kafka {

Partition KafkaSourceStatus::NewAssignment(KafkaTopicPartition topic_partition) {
  MutexLock lock(&mu_);
  const Partition id(next_id_++);
  assignments_.emplace(id, std::move(topic_partition));
  return id;
}

std::optional<KafkaTopicPartition> KafkaSourceStatus::Describe(Partition id) const {
  MutexLock lock(&mu_);
  auto it = assignments_.find(id);
  if (it == assignments_.end()) return std::nullopt;
  return it->second;
}

bool KafkaSourceStatus::connected() const {
  MutexLock lock(&mu_);
  return connected_;
}

void KafkaSourceStatus::set_connected(bool connected) {
  MutexLock lock(&mu_);
  connected_ = connected;
}

std::vector<KafkaPartitionStatus> KafkaSourceStatus::partitions() const {
  MutexLock lock(&mu_);
  return partitions_;
}

size_t KafkaSourceStatus::buffered() const {
  MutexLock lock(&mu_);
  return buffered_;
}

size_t KafkaSourceStatus::peak_buffered() const {
  MutexLock lock(&mu_);
  return peak_buffered_;
}

size_t KafkaSourceStatus::fetch_buffer() const {
  MutexLock lock(&mu_);
  return fetch_buffer_;
}

void KafkaSourceStatus::Publish(std::vector<KafkaPartitionStatus> partitions, size_t buffered,
                                size_t fetch_buffer) {
  std::sort(partitions.begin(), partitions.end(),
            [](const KafkaPartitionStatus& a, const KafkaPartitionStatus& b) {
              return std::tie(a.topic_partition.topic, a.topic_partition.partition) <
                     std::tie(b.topic_partition.topic, b.topic_partition.partition);
            });
  MutexLock lock(&mu_);
  partitions_ = std::move(partitions);
  buffered_ = buffered;
  peak_buffered_ = std::max(peak_buffered_, buffered);
  fetch_buffer_ = fetch_buffer;
}

void KafkaSourceStatus::PublishBuffered(size_t buffered) {
  MutexLock lock(&mu_);
  buffered_ = buffered;
  peak_buffered_ = std::max(peak_buffered_, buffered);
}

bool SetMembership(std::vector<KafkaTopicPartition>& list,
                   const KafkaTopicPartition& topic_partition, bool held) {
  auto it = std::find(list.begin(), list.end(), topic_partition);
  if (held == (it != list.end())) return false;
  if (held) {
    list.push_back(topic_partition);
  } else {
    list.erase(it);
  }
  return true;
}

bool KafkaSourceStatus::SetHeld(const KafkaTopicPartition& topic_partition, bool held) {
  MutexLock lock(&mu_);
  return SetMembership(held_, topic_partition, held);
}

std::vector<KafkaTopicPartition> KafkaSourceStatus::held() const {
  MutexLock lock(&mu_);
  return held_;
}

}  // namespace sluice::connectors::kafka
