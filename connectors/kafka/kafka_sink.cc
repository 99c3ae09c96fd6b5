#include "connectors/kafka/kafka_sink.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

#include "pipeline/config/stage_registry.h"
#include "pipeline/string_view_compat.h"

#include "simdjson.h"

namespace sluice::connectors::kafka {
namespace internal {

// The events of one HandleEvents() call that were handed to librdkafka (or
// wait in the overflow list), and the call's deferred acknowledgement.
//
// `outstanding` counts the messages not yet settled, plus one held by the
// call that fills the group (so that fast delivery reports cannot complete it
// half built). Whoever takes it to zero completes `acks`, once (`claimed`):
// the events whose delivery failed fail alone (PendingAcks::Complete), the
// others are acknowledged.
struct DeliveryGroup {
  DeliveryGroup(PendingAcks pending, size_t events)
      : acks(std::move(pending)), tickets(new DeliveryTicket[events]) {}

  EventBatch memory;  // retains the input's memory: values are produced zero-copy
  PendingAcks acks;
  // One per message, its opaque in librdkafka; never moved.
  std::unique_ptr<DeliveryTicket[]> tickets;
  size_t tickets_used = 0;  // worker only
  std::atomic<int64_t> outstanding{1};
  Mutex failures_mu;
  std::vector<std::pair<size_t, absl::Status>> failures ABSL_GUARDED_BY(failures_mu);
  std::atomic<bool> claimed{false};
  // Set after `acks` completed: the group may be freed.
  std::atomic<bool> finished{false};
};

struct OverflowEntry {
  DeliveryTicket* ticket;
  Event event;  // a view into the group's memory
  rd_kafka_topic_t* topic;
};

// Reads a string field out of JSON values, for `topic_from: field:<pointer>`.
class TopicFieldReader {
 public:
  explicit TopicFieldReader(std::string pointer) : pointer_(std::move(pointer)) {}
  // The field's text, valid until the next call; nullopt if the value is not
  // JSON or has no such string field.
  std::optional<std::string_view> Read(std::string_view json) {
    simdjson::dom::element root;
    if (parser_.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    std::string_view text;
    if (root.at_pointer(pointer_).get_string().get(text) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    return text;
  }

 private:
  const std::string pointer_;
  simdjson::dom::parser parser_;
};

namespace {

void Complete(DeliveryGroup& group) {
  if (group.claimed.exchange(true, std::memory_order_acq_rel)) return;
  std::vector<std::pair<size_t, absl::Status>> failures;
  {
    MutexLock lock(&group.failures_mu);
    failures = std::move(group.failures);
  }
  if (failures.empty()) {
    group.acks.Ack();
  } else {
    group.acks.Complete(std::move(failures));
  }
  group.finished.store(true, std::memory_order_release);
}

// The call that filled `group` is done adding to it: drops its own count.
void Release(DeliveryGroup& group) {
  if (group.outstanding.fetch_sub(1, std::memory_order_acq_rel) == 1) Complete(group);
}

// One message is settled: delivered (`status` OK) or failed.
void Settle(DeliveryTicket& ticket, const absl::Status& status) {
  DeliveryGroup& group = *ticket.group.load(std::memory_order_acquire);
  if (!status.ok()) {
    MutexLock lock(&group.failures_mu);
    group.failures.emplace_back(ticket.index, status);
  }
  Release(group);
}

// Fails a group that can no longer be settled message by message (Stop()).
void Abandon(DeliveryGroup& group, const absl::Status& status) {
  if (group.claimed.exchange(true, std::memory_order_acq_rel)) return;
  group.acks.Fail(status);
  group.finished.store(true, std::memory_order_release);
}

}  // namespace
}  // namespace internal

namespace {

using internal::DeliveryGroup;
using internal::DeliveryTicket;

void DeliveryReportCallback(rd_kafka_t* producer, const rd_kafka_message_t* message, void* opaque) {
  (void)producer;
  static_cast<KafkaSink*>(opaque)->OnDelivery(*message);
}

void ErrorCallback(rd_kafka_t* producer, int error, const char* reason, void* opaque) {
  (void)producer;
  static_cast<KafkaSink*>(opaque)->OnError(static_cast<rd_kafka_resp_err_t>(error), reason);
}

absl::StatusCode CodeFor(rd_kafka_resp_err_t error) {
  switch (error) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
      return absl::StatusCode::kInvalidArgument;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return absl::StatusCode::kPermissionDenied;
    case RD_KAFKA_RESP_ERR__FATAL:
      return absl::StatusCode::kInternal;
    default:
      // Timeouts, brokers down, leadership changes, purges: the broker will
      // come back, so retry by policy.
      return absl::StatusCode::kUnavailable;
  }
}

}  // namespace

KafkaSink::KafkaSink(KafkaSinkOptions options, std::string what)
    : options_(std::move(options)), what_(std::move(what)) {
  if (options_.topic_from == TopicSource::kField) {
    field_reader_ = std::make_unique<internal::TopicFieldReader>(options_.topic_from_name);
  }
}

KafkaSink::~KafkaSink() { Stop(); }

ConsumerFactory KafkaSink::Factory(KafkaSinkOptions options) {
  return [options](const StageContext& context) -> absl::StatusOr<std::unique_ptr<Consumer>> {
    return std::make_unique<KafkaSink>(
        options, absl::StrCat("kafka sink \"", Av(context.stage_name()), "\""));
  };
}

absl::Status KafkaSink::Start(const StageContext& context) {
  (void)context;
  absl::StatusOr<rd_kafka_t*> made = MakeIdempotentProducer(
      options_.client,
      {.delivery_report = DeliveryReportCallback, .error = ErrorCallback, .opaque = this});
  if (!made.ok()) {
    return absl::Status(made.status().code(), absl::StrCat(what_, ": ", made.status().message()));
  }
  producer_ = *made;
  if (!options_.topic.empty()) {
    absl::StatusOr<rd_kafka_topic_t*> topic = TopicHandle(options_.topic);
    if (!topic.ok()) {
      Stop();
      return topic.status();
    }
    fixed_topic_ = *topic;
  }
  stopping_.store(false, std::memory_order_relaxed);
  poll_thread_ = std::thread([this] { PollLoop(); });
  return absl::OkStatus();
}

absl::StatusOr<rd_kafka_topic_t*> KafkaSink::TopicHandle(std::string_view name) {
  auto found = topics_.find(Av(name));
  if (found != topics_.end()) return found->second;
  const std::string topic_name(name);
  rd_kafka_topic_t* topic = rd_kafka_topic_new(producer_, topic_name.c_str(), nullptr);
  if (topic == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        what_, ": topic \"", topic_name, "\": ", rd_kafka_err2str(rd_kafka_last_error())));
  }
  topics_.emplace(topic_name, topic);
  return topic;
}

absl::StatusOr<rd_kafka_topic_t*> KafkaSink::TopicFor(const Event& event) {
  std::optional<std::string_view> name;
  switch (options_.topic_from) {
    case TopicSource::kFixed:
      return fixed_topic_;
    case TopicSource::kHeader:
      name = event.header(options_.topic_from_name);
      break;
    case TopicSource::kField:
      name = field_reader_->Read(event.value());
      break;
  }
  if (name.has_value() && !name->empty()) return TopicHandle(*name);
  if (fixed_topic_ != nullptr) return fixed_topic_;
  return absl::InvalidArgumentError(
      absl::StrCat(what_, ": no topic for the event: ",
                   options_.topic_from == TopicSource::kHeader ? "header \"" : "string field \"",
                   options_.topic_from_name, "\" is absent or empty, and `topic` is not set"));
}

rd_kafka_resp_err_t KafkaSink::Produce(rd_kafka_topic_t* topic, const Event& event,
                                       DeliveryTicket* ticket) {
  rd_kafka_headers_t* headers = nullptr;
  if (!event.headers().empty()) {
    headers = rd_kafka_headers_new(event.headers().size());
    for (const Header& header : event.headers()) {
      rd_kafka_header_add(headers, header.key.data(), static_cast<ssize_t>(header.key.size()),
                          header.value.data(), static_cast<ssize_t>(header.value.size()));
    }
  }
  rd_kafka_vu_t parts[6];
  size_t count = 0;
  parts[count].vtype = RD_KAFKA_VTYPE_RKT;
  parts[count++].u.rkt = topic;
  // Flags 0: librdkafka neither copies nor frees the value; group->memory
  // keeps it alive until the delivery report.
  parts[count].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  parts[count++].u.i = 0;
  parts[count].vtype = RD_KAFKA_VTYPE_VALUE;
  parts[count].u.mem.ptr = const_cast<char*>(event.value().data());
  parts[count++].u.mem.size = event.value().size();
  // An empty key goes out as no key, so keyless events spread over partitions.
  parts[count].vtype = RD_KAFKA_VTYPE_KEY;
  parts[count].u.mem.ptr = event.key().empty() ? nullptr : const_cast<char*>(event.key().data());
  parts[count++].u.mem.size = event.key().size();
  parts[count].vtype = RD_KAFKA_VTYPE_OPAQUE;
  parts[count++].u.ptr = ticket;
  if (event.timestamp_us() > 0) {
    parts[count].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
    parts[count++].u.i64 = event.timestamp_us() / 1000;
  }
  rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (headers != nullptr) {
    rd_kafka_vu_t all[7];
    std::copy(parts, parts + count, all);
    all[count].vtype = RD_KAFKA_VTYPE_HEADERS;
    all[count].u.headers = headers;
    if (rd_kafka_error_t* error = rd_kafka_produceva(producer_, all, count + 1)) {
      code = rd_kafka_error_code(error);
      rd_kafka_error_destroy(error);
      // On failure the headers stay ours.
      rd_kafka_headers_destroy(headers);
    }
  } else if (rd_kafka_error_t* error = rd_kafka_produceva(producer_, parts, count)) {
    code = rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
  }
  return code;
}

absl::Status KafkaSink::HandleEvents(const EventBatch& batch, ConsumerAcks& acks) {
  if (fatal_.load(std::memory_order_relaxed)) return FatalError();
  bool overflowing = false;
  {
    MutexLock lock(&mu_);
    overflowing = overflow_next_ < overflow_.size();
  }
  DeliveryGroup* group = nullptr;
  std::vector<internal::OverflowEntry> wait;
  for (size_t i = 0; i < batch.size(); ++i) {
    const Event& event = batch[i];
    absl::StatusOr<rd_kafka_topic_t*> topic = TopicFor(event);
    if (!topic.ok()) {
      acks.Fail(event, topic.status());
      continue;
    }
    if (group == nullptr) {
      auto made = std::make_unique<DeliveryGroup>(acks.Defer(), batch.size());
      made->memory.RetainMemoryOf(batch);
      group = made.get();
      MutexLock lock(&mu_);
      groups_.push_back(std::move(made));
    }
    DeliveryTicket* ticket = &group->tickets[group->tickets_used++];
    ticket->index = static_cast<uint32_t>(i);
    ticket->group.store(group, std::memory_order_release);
    group->outstanding.fetch_add(1, std::memory_order_relaxed);
    if (!overflowing) {
      const rd_kafka_resp_err_t error = Produce(*topic, event, ticket);
      if (error == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      if (error == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        // From here on this call's events wait for room, in order.
        overflowing = true;
      } else {
        group->outstanding.fetch_sub(1, std::memory_order_relaxed);  // the guard keeps it >= 1
        if (error == RD_KAFKA_RESP_ERR__FATAL) OnError(error, "produce");
        acks.Fail(event, DeliveryError(error, rd_kafka_topic_name(*topic)));
        continue;
      }
    }
    wait.push_back({ticket, event, *topic});
  }
  if (!wait.empty()) {
    MutexLock lock(&mu_);
    overflow_.insert(overflow_.end(), wait.begin(), wait.end());
  }
  if (group != nullptr) internal::Release(*group);  // the call's own count
  return absl::OkStatus();
}

void KafkaSink::DrainOverflow() {
  std::vector<std::pair<DeliveryTicket*, absl::Status>> failures;
  {
    MutexLock lock(&mu_);
    while (overflow_next_ < overflow_.size()) {
      const internal::OverflowEntry& entry = overflow_[overflow_next_];
      const rd_kafka_resp_err_t error = Produce(entry.topic, entry.event, entry.ticket);
      if (error == RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
      ++overflow_next_;
      if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        failures.emplace_back(entry.ticket, DeliveryError(error, rd_kafka_topic_name(entry.topic)));
      }
    }
    if (overflow_next_ == overflow_.size()) {
      overflow_.clear();
      overflow_next_ = 0;
    }
  }
  for (auto& [ticket, status] : failures) internal::Settle(*ticket, status);
}

void KafkaSink::ReapGroups() {
  MutexLock lock(&mu_);
  groups_.remove_if([](const std::unique_ptr<DeliveryGroup>& group) {
    return group->finished.load(std::memory_order_acquire);
  });
}

void KafkaSink::PollLoop() {
  while (!stopping_.load(std::memory_order_acquire)) {
    // Delivery reports run here; a report wakes the poll at once.
    rd_kafka_poll(producer_, 50);
    DrainOverflow();
    ReapGroups();
  }
}

void KafkaSink::OnDelivery(const rd_kafka_message_t& message) {
  auto* ticket = static_cast<DeliveryTicket*>(message._private);
  if (ticket == nullptr) return;
  if (message.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    internal::Settle(*ticket, absl::OkStatus());
  } else {
    internal::Settle(*ticket, DeliveryError(message.err, rd_kafka_topic_name(message.rkt)));
  }
}

void KafkaSink::OnError(rd_kafka_resp_err_t error, const char* reason) {
  if (error != RD_KAFKA_RESP_ERR__FATAL) {
    // Brokers down, connections refused: librdkafka retries on its own, and
    // the messages concerned fail by message.timeout.ms if it never works.
    spdlog::debug("{}: {}: {}", what_, rd_kafka_err2str(error), reason);
    return;
  }
  char text[512];
  const rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(producer_, text, sizeof(text));
  {
    MutexLock lock(&mu_);
    if (fatal_text_.empty()) {
      fatal_text_ = absl::StrCat(rd_kafka_err2name(fatal), ": ", text);
    }
  }
  spdlog::error("{}: fatal producer error: {}", what_, text);
  fatal_.store(true, std::memory_order_relaxed);
}

absl::Status KafkaSink::FatalError() {
  MutexLock lock(&mu_);
  return absl::InternalError(absl::StrCat(what_, ": fatal producer error: ", fatal_text_));
}

absl::Status KafkaSink::DeliveryError(rd_kafka_resp_err_t error, std::string_view topic) const {
  return absl::Status(CodeFor(error), absl::StrCat(what_, ": delivery to topic \"", Av(topic),
                                                   "\" failed: ", rd_kafka_err2str(error)));
}

absl::Status KafkaSink::Flush() {
  if (fatal_.load(std::memory_order_relaxed)) return FatalError();
  return absl::OkStatus();
}

void KafkaSink::Stop() {
  if (producer_ == nullptr) return;
  stopping_.store(true, std::memory_order_release);
  if (poll_thread_.joinable()) poll_thread_.join();

  // What was handed over gets until stop_timeout to be delivered.
  const absl::Time deadline = absl::Now() + options_.stop_timeout;
  auto everything_settled = [this] {
    {
      MutexLock lock(&mu_);
      if (overflow_next_ < overflow_.size()) return false;
    }
    return rd_kafka_outq_len(producer_) == 0;
  };
  while (!everything_settled() && absl::Now() < deadline) {
    DrainOverflow();
    rd_kafka_poll(producer_, 50);
  }
  if (!everything_settled()) {
    // Purged messages get their delivery reports (failed) at once: served
    // below, so each group completes through the usual path.
    rd_kafka_purge(producer_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    std::vector<internal::OverflowEntry> unsent;
    {
      MutexLock lock(&mu_);
      unsent.assign(overflow_.begin() + static_cast<std::ptrdiff_t>(overflow_next_),
                    overflow_.end());
      overflow_.clear();
      overflow_next_ = 0;
    }
    const absl::Status stopped =
        absl::UnavailableError(absl::StrCat(what_, ": stopped before the event was produced"));
    for (const internal::OverflowEntry& entry : unsent) internal::Settle(*entry.ticket, stopped);
    const absl::Time purge_deadline = absl::Now() + absl::Seconds(5);
    while (rd_kafka_outq_len(producer_) > 0 && absl::Now() < purge_deadline) {
      rd_kafka_poll(producer_, 50);
    }
  }
  // Anything still unsettled never will be now: fail it rather than leave it
  // in flight (Complete() runs once per group whatever comes after).
  {
    MutexLock lock(&mu_);
    for (const std::unique_ptr<DeliveryGroup>& group : groups_) {
      if (!group->claimed.load(std::memory_order_acquire)) {
        internal::Abandon(*group, absl::UnavailableError(absl::StrCat(
                                      what_, ": stopped before delivery was confirmed")));
      }
    }
  }
  for (auto& [name, topic] : topics_) rd_kafka_topic_destroy(topic);
  topics_.clear();
  fixed_topic_ = nullptr;
  rd_kafka_destroy(producer_);
  producer_ = nullptr;
  MutexLock lock(&mu_);
  groups_.clear();
}

// ---------------------------------------------------------------------------
// Registration: `type: kafka` as a sink

namespace {

ConsumerFactory MakeKafkaSink(StageTypeContext& context) {
  OptionReader& options = context.options;
  KafkaSinkOptions sink;
  std::optional<KafkaClientOptions> client = ReadKafkaClientOptions(options);
  if (client.has_value()) {
    for (const auto& [name, value] : client->properties) {
      if (name == "enable.idempotence" && value != "true") {
        options.Error("properties",
                      "enable.idempotence: the kafka sink is always idempotent; remove it");
      }
    }
    sink.client = std::move(*client);
  }
  if (std::optional<std::string> topic = options.String("topic")) {
    if (topic->empty()) {
      options.Error("topic", "must not be empty");
    } else {
      sink.topic = std::move(*topic);
    }
  }
  if (std::optional<std::string> from = options.String("topic_from")) {
    if (absl::StartsWith(*from, "header:") && from->size() > 7) {
      sink.topic_from = TopicSource::kHeader;
      sink.topic_from_name = from->substr(7);
    } else if (absl::StartsWith(*from, "field:/")) {
      sink.topic_from = TopicSource::kField;
      sink.topic_from_name = from->substr(6);
    } else {
      options.Error("topic_from",
                    absl::StrCat("\"", *from,
                                 "\" is neither header:<name> nor field:<JSON pointer> "
                                 "(e.g. field:/meta/topic)"));
    }
  }
  if (sink.topic.empty() && sink.topic_from == TopicSource::kFixed && !options.has("topic") &&
      !options.has("topic_from")) {
    options.Error("topic", "is required (or topic_from: header:<name> | field:<JSON pointer>)");
  }
  sink.stop_timeout =
      options.Duration("stop_timeout", absl::Milliseconds(1)).value_or(sink.stop_timeout);
  if (options.failed()) return nullptr;
  return KafkaSink::Factory(std::move(sink));
}

}  // namespace

SLUICE_REGISTER_CONSUMER("kafka", MakeKafkaSink);

}  // namespace sluice::connectors::kafka
