#include "pipeline/stage.h"

#include <cassert>

#include "pipeline/internal/stage_instance.h"

namespace sluice {

void StageContext::Wake() const { owner_->Wake(); }

void StageContext::WakeAfter(absl::Duration delay) const { owner_->WakeAfter(delay); }

void StageContext::NamePartition(Partition id, PartitionName name) const {
  owner_->NamePartition(id, std::move(name));
}

void StageContext::Fail(absl::Status status) const { owner_->RequestCrash(std::move(status)); }

Output::Output(const EventBatch& input) : input_(input), settled_(input.size(), 0) {
  out_.reserve(input.size());
}

void Output::RetainInput() {
  out_.RetainMemoryOf(input_);
  retains_input_ = true;
}

void Output::Emit(const Event& input, const EventChanges& changes) {
  const size_t index = IndexOf(input);
  Settle(index);
  if (!retains_input_) RetainInput();
  EventFields fields = input.fields();
  // Bytes the stage wrote with Allocate() are already ours; others (a
  // string of the stage's, a constant) are copied so they outlive the call.
  auto own = [this](std::string_view bytes) {
    return bytes.empty() || out_.OwnsBytes(bytes.data()) ? bytes : out_.Copy(bytes);
  };
  if (changes.key) fields.key = own(*changes.key);
  if (changes.value) fields.value = own(*changes.value);
  if (changes.timestamp_us) fields.timestamp_us = *changes.timestamp_us;
  if (changes.headers) {
    absl::Span<char> memory = out_.Allocate(sizeof(Header) * changes.headers->size());
    auto* headers = reinterpret_cast<Header*>(memory.data());
    for (size_t i = 0; i < changes.headers->size(); ++i) {
      headers[i] = {own((*changes.headers)[i].key), own((*changes.headers)[i].value)};
    }
    fields.headers = {headers, changes.headers->size()};
  }
  out_.AppendView(fields);
}

void Output::Drop(const Event& input) {
  const size_t index = IndexOf(input);
  Settle(index);
  dropped_.push_back(index);
}

void Output::Fail(const Event& input, absl::Status status) {
  const size_t index = IndexOf(input);
  Settle(index);
  failed_.emplace_back(index, std::move(status));
}

HeldId Output::Hold(const Event& input) {
  const size_t index = IndexOf(input);
  assert(next_held_id_ != nullptr && "Hold() outside HandleEvents()");
  Settle(index);
  const HeldId id = (*next_held_id_)++;
  held_.emplace_back(index, id);
  return id;
}

PendingAcks ConsumerAcks::Defer() {
  assert(deferred_ == nullptr && "Defer() called twice in one call");
  deferred_ = std::make_shared<internal::PendingAcksState>();
  return PendingAcks(deferred_);
}

PendingAcks& PendingAcks::operator=(PendingAcks&& other) noexcept {
  if (this != &other) {
    if (state_ != nullptr)
      internal::CompletePendingAcks(
          *state_, {absl::AbortedError("abandoned: pending acknowledgements replaced")});
    state_ = std::move(other.state_);
  }
  return *this;
}

PendingAcks::~PendingAcks() {
  if (state_ != nullptr) {
    internal::CompletePendingAcks(
        *state_, {absl::AbortedError("abandoned: pending acknowledgements dropped by the stage")});
  }
}

void PendingAcks::Ack() {
  if (state_ == nullptr) return;
  internal::CompletePendingAcks(*state_, {absl::OkStatus()});
  state_.reset();
}

void PendingAcks::Complete(std::vector<std::pair<size_t, absl::Status>> failed) {
  if (state_ == nullptr) return;
  internal::CompletePendingAcks(*state_, {absl::OkStatus(), std::move(failed)});
  state_.reset();
}

void PendingAcks::Fail(absl::Status status) {
  if (state_ == nullptr) return;
  internal::CompletePendingAcks(*state_, {std::move(status)});
  state_.reset();
}

void ConsumerAcks::Fail(const Event& input, absl::Status status) {
  const auto index = static_cast<size_t>(&input - input_.begin());
  assert(&input >= input_.begin() && index < input_.size() &&
         "event is not from the batch being handled");
  failed_.emplace_back(index, std::move(status));
}

}  // namespace sluice
