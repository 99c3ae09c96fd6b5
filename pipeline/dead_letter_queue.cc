#include "pipeline/dead_letter_queue.h"

namespace sluice {

void InMemoryDeadLetterQueue::Write(DeadLetterBatch records, WriteDone done) {
  absl::Status result;
  {
    MutexLock lock(&mu_);
    // A fresh Status, not a copy sharing failure_'s reference-counted
    // message: Debian's Abseil counts references where TSan cannot see.
    result = absl::Status(failure_.code(), failure_.message());
    if (result.ok()) {
      records_.insert(records_.end(), records->begin(), records->end());
    } else {
      ++failed_writes_;
    }
  }
  done(std::move(result));
}

std::vector<DeadLetter> InMemoryDeadLetterQueue::records() const {
  MutexLock lock(&mu_);
  return records_;
}

size_t InMemoryDeadLetterQueue::size() const {
  MutexLock lock(&mu_);
  return records_.size();
}

void InMemoryDeadLetterQueue::set_failure(absl::Status status) {
  MutexLock lock(&mu_);
  failure_ = std::move(status);
}

size_t InMemoryDeadLetterQueue::failed_writes() const {
  MutexLock lock(&mu_);
  return failed_writes_;
}

}  // namespace sluice
