#include "connectors/kafka/kafka_dead_letter.h"

#include <algorithm>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

#include "connectors/file/dead_letter_file.h"
#include "pipeline/config/dead_letter_registry.h"

namespace sluice::connectors::kafka {
namespace internal {

// One Write(): its records, its callback and how many records librdkafka has
// not yet settled. Touched only by the queue's thread once handed over.
struct DeadLetterWrite {
  DeadLetterBatch records;
  DeadLetterQueue::WriteDone done;
  size_t outstanding = 0;
  rd_kafka_resp_err_t first_error = RD_KAFKA_RESP_ERR_NO_ERROR;
  bool completed = false;
};

}  // namespace internal

namespace {

using internal::DeadLetterWrite;

void DeliveryReportCallback(rd_kafka_t* producer, const rd_kafka_message_t* message, void* opaque) {
  (void)producer;
  static_cast<KafkaDeadLetterQueue*>(opaque)->OnDelivery(*message);
}

void ErrorCallback(rd_kafka_t* producer, int error, const char* reason, void* opaque) {
  (void)producer;
  static_cast<KafkaDeadLetterQueue*>(opaque)->OnError(static_cast<rd_kafka_resp_err_t>(error),
                                                      reason);
}

// Produces `letter` as one message (the file backend's record shape),
// copied: librdkafka owns its bytes from here. Returns librdkafka's error.
rd_kafka_resp_err_t ProduceRecord(rd_kafka_t* producer, rd_kafka_topic_t* topic,
                                  const DeadLetter& letter, DeadLetterWrite* write) {
  const DeadLetterRecord record = MakeDeadLetterRecord(letter);
  rd_kafka_headers_t* headers = rd_kafka_headers_new(record.headers.size());
  for (const auto& [name, value] : record.headers) {
    rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                        static_cast<ssize_t>(value.size()));
  }
  rd_kafka_vu_t parts[7];
  size_t count = 0;
  parts[count].vtype = RD_KAFKA_VTYPE_RKT;
  parts[count++].u.rkt = topic;
  parts[count].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  parts[count++].u.i = RD_KAFKA_MSG_F_COPY;
  parts[count].vtype = RD_KAFKA_VTYPE_VALUE;
  parts[count].u.mem.ptr = const_cast<char*>(record.value.data());
  parts[count++].u.mem.size = record.value.size();
  // An empty key goes out as no key, as the Kafka sink sends it.
  parts[count].vtype = RD_KAFKA_VTYPE_KEY;
  parts[count].u.mem.ptr = record.key.empty() ? nullptr : const_cast<char*>(record.key.data());
  parts[count++].u.mem.size = record.key.size();
  parts[count].vtype = RD_KAFKA_VTYPE_OPAQUE;
  parts[count++].u.ptr = write;
  parts[count].vtype = RD_KAFKA_VTYPE_HEADERS;
  parts[count++].u.headers = headers;
  if (record.timestamp_us > 0) {
    parts[count].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
    parts[count++].u.i64 = record.timestamp_us / 1000;
  }
  rd_kafka_error_t* error = rd_kafka_produceva(producer, parts, count);
  if (error == nullptr) return RD_KAFKA_RESP_ERR_NO_ERROR;
  const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
  rd_kafka_error_destroy(error);
  rd_kafka_headers_destroy(headers);  // on failure the headers stay ours
  return code;
}

}  // namespace

KafkaDeadLetterQueue::KafkaDeadLetterQueue(KafkaDeadLetterOptions options)
    : options_(std::move(options)) {}

KafkaDeadLetterQueue::~KafkaDeadLetterQueue() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void KafkaDeadLetterQueue::Write(DeadLetterBatch records, WriteDone done) {
  auto write = std::make_unique<DeadLetterWrite>();
  write->records = std::move(records);
  write->done = std::move(done);
  MutexLock lock(&mu_);
  queued_.push_back(std::move(write));
  if (!started_) {
    // Started on first use: a queue made for `sluice validate` starts nothing.
    started_ = true;
    thread_ = std::thread([this] { Run(); });
  }
  cv_.notify_one();
}

absl::Status KafkaDeadLetterQueue::CreateProducer() {
  const std::string what = absl::StrCat("kafka dead-letter topic \"", options_.topic, "\"");
  absl::StatusOr<rd_kafka_t*> made = MakeIdempotentProducer(
      options_.client,
      {.delivery_report = DeliveryReportCallback, .error = ErrorCallback, .opaque = this});
  if (!made.ok()) {
    return absl::UnavailableError(absl::StrCat(what, ": ", made.status().message()));
  }
  producer_ = *made;
  topic_ = rd_kafka_topic_new(producer_, options_.topic.c_str(), nullptr);
  if (topic_ == nullptr) {
    const rd_kafka_resp_err_t code = rd_kafka_last_error();
    DestroyProducer();
    return absl::UnavailableError(absl::StrCat(what, ": ", rd_kafka_err2str(code)));
  }
  return absl::OkStatus();
}

void KafkaDeadLetterQueue::DestroyProducer() {
  if (topic_ != nullptr) rd_kafka_topic_destroy(topic_);
  topic_ = nullptr;
  if (producer_ != nullptr) rd_kafka_destroy(producer_);
  producer_ = nullptr;
  fatal_ = false;
}

void KafkaDeadLetterQueue::ProduceUnsent() {
  while (!unsent_.empty()) {
    const Unsent next = unsent_.front();
    const rd_kafka_resp_err_t error =
        ProduceRecord(producer_, topic_, (*next.write->records)[next.index], next.write);
    // A full local queue: the rest waits, in order, for delivery reports to
    // make room.
    if (error == RD_KAFKA_RESP_ERR__QUEUE_FULL) return;
    unsent_.pop_front();
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (error == RD_KAFKA_RESP_ERR__FATAL) fatal_ = true;
      Settle(*next.write, error);
    }
  }
}

void KafkaDeadLetterQueue::Settle(DeadLetterWrite& write, rd_kafka_resp_err_t error) {
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR && write.first_error == RD_KAFKA_RESP_ERR_NO_ERROR) {
    write.first_error = error;
  }
  if (--write.outstanding == 0) Finish(write);
}

void KafkaDeadLetterQueue::Finish(DeadLetterWrite& write) {
  if (write.completed) return;
  write.completed = true;
  if (write.first_error == RD_KAFKA_RESP_ERR_NO_ERROR) {
    records_confirmed_.fetch_add(write.records->size(), std::memory_order_relaxed);
    write.done(absl::OkStatus());
  } else {
    failed_writes_.fetch_add(1, std::memory_order_relaxed);
    write.done(DeliveryError(write.first_error));
  }
}

void KafkaDeadLetterQueue::FailAll(const absl::Status& status) {
  for (std::unique_ptr<DeadLetterWrite>& write : writes_) {
    if (write->completed) continue;
    write->completed = true;
    failed_writes_.fetch_add(1, std::memory_order_relaxed);
    write->done(absl::Status(status.code(), status.message()));
  }
  writes_.clear();
  unsent_.clear();
}

absl::Status KafkaDeadLetterQueue::DeliveryError(rd_kafka_resp_err_t error) const {
  // Every failure is retried: a dead letter is the last copy of an event.
  return absl::UnavailableError(absl::StrCat("kafka dead-letter topic \"", options_.topic,
                                             "\": delivery failed: ", rd_kafka_err2str(error)));
}

void KafkaDeadLetterQueue::OnDelivery(const rd_kafka_message_t& message) {
  auto* write = static_cast<DeadLetterWrite*>(message._private);
  if (write == nullptr) return;
  if (message.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Timeouts and brokers down come back; a record the topic refuses does
    // not, and needs an operator.
    const bool transient = message.err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ||
                           message.err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                           message.err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                           message.err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
    if (transient) {
      spdlog::debug("kafka dead-letter topic \"{}\": delivery failed: {}", options_.topic,
                    rd_kafka_err2str(message.err));
    } else {
      spdlog::error(
          "kafka dead-letter topic \"{}\": delivery failed: {}; the event stays in flight "
          "and is written again",
          options_.topic, rd_kafka_err2str(message.err));
    }
  }
  Settle(*write, message.err);
}

void KafkaDeadLetterQueue::OnError(rd_kafka_resp_err_t error, const char* reason) {
  if (error != RD_KAFKA_RESP_ERR__FATAL) {
    // Brokers down, connections refused: librdkafka retries by itself, and
    // the records concerned fail by message.timeout.ms if it never works.
    spdlog::debug("kafka dead-letter topic \"{}\": {}: {}", options_.topic, rd_kafka_err2str(error),
                  reason);
    return;
  }
  char text[512];
  rd_kafka_fatal_error(producer_, text, sizeof(text));
  spdlog::error("kafka dead-letter topic \"{}\": fatal producer error: {}; making a new producer",
                options_.topic, text);
  fatal_ = true;
}

void KafkaDeadLetterQueue::Run() {
  for (;;) {
    std::deque<std::unique_ptr<DeadLetterWrite>> incoming;
    bool stopping = false;
    {
      std::unique_lock<Mutex> lock(mu_);
      if (writes_.empty()) {
        // Idle: nothing for librdkafka to report, so wait for work.
        cv_.wait(lock,
                 [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !queued_.empty() || stop_; });
      }
      incoming.swap(queued_);
      stopping = stop_;
    }
    for (std::unique_ptr<DeadLetterWrite>& write : incoming) {
      if (write->records == nullptr || write->records->empty()) {
        write->done(absl::OkStatus());
        continue;
      }
      write->outstanding = write->records->size();
      for (size_t i = 0; i < write->records->size(); ++i) unsent_.push_back({write.get(), i});
      writes_.push_back(std::move(write));
    }
    if (!writes_.empty() && producer_ == nullptr) {
      if (absl::Status created = CreateProducer(); !created.ok()) {
        spdlog::error("{}", std::string(created.message()));
        FailAll(created);  // the runtime writes them again after a backoff
      }
    }
    if (producer_ != nullptr) {
      ProduceUnsent();
      // Delivery reports run here.
      rd_kafka_poll(producer_, writes_.empty() ? 0 : 10);
      while (!writes_.empty() && writes_.front()->completed) writes_.pop_front();
      std::erase_if(writes_,
                    [](const std::unique_ptr<DeadLetterWrite>& write) { return write->completed; });
      if (fatal_ && rd_kafka_outq_len(producer_) == 0) {
        // Every message of the broken producer is reported (failed): the
        // next writes go through a fresh one.
        ProduceUnsent();  // fails what is left at once, kFatal
        if (rd_kafka_outq_len(producer_) == 0) {
          FailAll(absl::UnavailableError(
              absl::StrCat("kafka dead-letter topic \"", options_.topic, "\": producer failed")));
          DestroyProducer();
        }
      }
    }
    if (stopping) break;
  }

  // Shutdown: what was handed over gets until stop_timeout to be confirmed.
  {
    MutexLock lock(&mu_);
    for (std::unique_ptr<DeadLetterWrite>& write : queued_) {
      if (write->records == nullptr || write->records->empty()) {
        write->done(absl::OkStatus());
        continue;
      }
      write->outstanding = write->records->size();
      for (size_t i = 0; i < write->records->size(); ++i) unsent_.push_back({write.get(), i});
      writes_.push_back(std::move(write));
    }
    queued_.clear();
  }
  if (producer_ == nullptr && !writes_.empty()) {
    if (absl::Status created = CreateProducer(); !created.ok()) FailAll(created);
  }
  if (producer_ != nullptr) {
    const absl::Time deadline = absl::Now() + options_.stop_timeout;
    auto settled = [this] { return unsent_.empty() && rd_kafka_outq_len(producer_) == 0; };
    while (!settled() && absl::Now() < deadline) {
      ProduceUnsent();
      rd_kafka_poll(producer_, 10);
    }
    if (!settled()) {
      // Purged messages are reported failed at once: served below, so each
      // write completes through the usual path.
      rd_kafka_purge(producer_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      const absl::Time purge_deadline = absl::Now() + absl::Seconds(5);
      while (rd_kafka_outq_len(producer_) > 0 && absl::Now() < purge_deadline) {
        rd_kafka_poll(producer_, 10);
      }
    }
    FailAll(absl::UnavailableError(absl::StrCat("kafka dead-letter topic \"", options_.topic,
                                                "\": stopped before delivery was confirmed")));
    DestroyProducer();
  }
}

// ---------------------------------------------------------------------------
// Registration: `dead_letter: {type: kafka, brokers: ..., topic: ..., properties: ...}`

namespace {

std::shared_ptr<DeadLetterQueue> MakeKafkaDeadLetterQueue(DeadLetterTypeContext& context) {
  OptionReader& options = context.options;
  KafkaDeadLetterOptions queue;
  std::optional<KafkaClientOptions> client = ReadKafkaClientOptions(options);
  if (client.has_value()) {
    for (const auto& [name, value] : client->properties) {
      if (name == "enable.idempotence" && value != "true") {
        options.Error("properties",
                      "enable.idempotence: the kafka dead-letter queue is always idempotent; "
                      "remove it");
      }
    }
    queue.client = std::move(*client);
  }
  std::optional<std::string> topic = options.String("topic");
  if (!topic.has_value()) {
    if (!options.has("topic")) options.Error("topic", "is required");
  } else if (topic->empty()) {
    options.Error("topic", "must not be empty");
  } else {
    queue.topic = std::move(*topic);
  }
  queue.stop_timeout = options.Duration("stop_timeout").value_or(queue.stop_timeout);
  if (options.failed()) return nullptr;
  return std::make_shared<KafkaDeadLetterQueue>(std::move(queue));
}

}  // namespace

SLUICE_REGISTER_DEAD_LETTER("kafka", MakeKafkaDeadLetterQueue);

}  // namespace sluice::connectors::kafka
