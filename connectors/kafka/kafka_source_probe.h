// File: connectors/kafka/kafka_source_probe.h
//
// The Kafka source's SourceProbe (pipeline/source_probe.h): what the
// operations endpoint reads about a `type: kafka` source stage - per
// instance, connected and each assigned partition's committed offset, lag,
// oldest in-flight age and paused flag - and how it holds one partition
// paused (KafkaSourceMonitor::SetHeld; the source's poll thread pauses it
// with rd_kafka_pause_partitions, no rebalance). The source's maker registers
// one per stage.
//
// Thread-safe, as the monitor it reads.
#pragma once

#include <memory>

#include "connectors/kafka/kafka_source.h"
#include "pipeline/source_probe.h"

namespace sluice::connectors::kafka {

std::shared_ptr<SourceProbe> MakeKafkaSourceProbe(std::shared_ptr<KafkaSourceMonitor> monitor);

}  // namespace sluice::connectors::kafka
