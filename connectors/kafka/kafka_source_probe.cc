#include "connectors/kafka/kafka_source_probe.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

#include "pipeline/string_view_compat.h"

namespace sluice::connectors::kafka {
namespace {

class KafkaSourceProbe final : public SourceProbe {
 public:
  explicit KafkaSourceProbe(std::shared_ptr<KafkaSourceMonitor> monitor)
      : monitor_(std::move(monitor)) {}

  std::vector<ProbeInstance> instances() const override {
    std::vector<ProbeInstance> instances;
    const std::vector<std::shared_ptr<KafkaSourceStatus>> statuses = monitor_->instances();
    for (size_t index = 0; index < statuses.size(); ++index) {
      if (statuses[index] == nullptr) continue;
      ProbeInstance& instance = instances.emplace_back();
      instance.instance = static_cast<uint32_t>(index);
      instance.connected = statuses[index]->connected();
      for (const KafkaPartitionStatus& status : statuses[index]->partitions()) {
        if (status.revoking) continue;  // on its way out: another owner's soon
        instance.partitions.push_back({.topic = status.topic_partition.topic,
                                       .partition = status.topic_partition.partition,
                                       .committed = status.committed,
                                       .lag = status.lag,
                                       .oldest_in_flight_age = status.oldest_in_flight_age,
                                       .paused = status.paused});
      }
    }
    return instances;
  }

  absl::Status PausePartition(std::string_view topic, int32_t partition) override {
    monitor_->SetHeld({std::string(topic), partition}, true);
    return absl::OkStatus();
  }

  absl::Status ResumePartition(std::string_view topic, int32_t partition) override {
    if (!monitor_->SetHeld({std::string(topic), partition}, false)) {
      return absl::NotFoundError(
          absl::StrCat("partition ", Av(topic), "/", partition, " is not paused"));
    }
    return absl::OkStatus();
  }

  std::vector<HeldPartition> held() const override {
    std::vector<HeldPartition> held;
    for (const KafkaTopicPartition& topic_partition : monitor_->held()) {
      held.push_back({topic_partition.topic, topic_partition.partition});
    }
    return held;
  }

 private:
  const std::shared_ptr<KafkaSourceMonitor> monitor_;
};

}  // namespace

std::shared_ptr<SourceProbe> MakeKafkaSourceProbe(std::shared_ptr<KafkaSourceMonitor> monitor) {
  return std::make_shared<KafkaSourceProbe>(std::move(monitor));
}

}  // namespace sluice::connectors::kafka
