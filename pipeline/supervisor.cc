#include "pipeline/supervisor.h"

#include <utility>

#include "absl/strings/str_cat.h"

#include "pipeline/log.h"

namespace sluice {

Supervisor::Supervisor(std::string name, SupervisionOptions options, size_t children,
                       const Clock& clock, RestartChild restart_child, Escalate escalate)
    : name_(std::move(name)),
      options_(options),
      children_(children),
      clock_(clock),
      restart_child_(std::move(restart_child)),
      escalate_(std::move(escalate)) {}

void Supervisor::ChildCrashed(size_t index, const std::string& reason) {
  bool give_up = false;
  {
    MutexLock lock(&mu_);
    if (gave_up_) return;  // already escalated; the parent decides now
    const absl::Time now = clock_.Now();
    while (!recent_restarts_.empty() && recent_restarts_.front() <= now - options_.max_seconds) {
      recent_restarts_.pop_front();
    }
    if (recent_restarts_.size() >= static_cast<size_t>(options_.max_restarts)) {
      gave_up_ = true;
      give_up = true;
    } else {
      recent_restarts_.push_back(now);
      ++restarts_;
    }
  }
  if (give_up) {
    LogEvent(spdlog::level::err, "supervisor_escalated")
        .Field("supervisor", name_)
        .Field("max_restarts", options_.max_restarts)
        .Field("max_seconds", absl::FormatDuration(options_.max_seconds))
        .Field("last_crash", reason);
    escalate_(absl::StrCat("supervisor \"", name_, "\" reached max_restarts (",
                           options_.max_restarts, " in ",
                           absl::FormatDuration(options_.max_seconds), "); last crash: ", reason));
    return;
  }
  size_t first = index;
  size_t last = index + 1;
  switch (options_.strategy) {
    case RestartStrategy::kOneForOne:
      break;
    case RestartStrategy::kOneForAll:
      first = 0;
      last = children_;
      break;
    case RestartStrategy::kRestForOne:
      last = children_;
      break;
  }
  for (size_t child = first; child < last; ++child) restart_child_(child, reason);
}

void Supervisor::Reset() {
  MutexLock lock(&mu_);
  recent_restarts_.clear();
  gave_up_ = false;
}

size_t Supervisor::restarts() const {
  MutexLock lock(&mu_);
  return restarts_;
}

bool Supervisor::gave_up() const {
  MutexLock lock(&mu_);
  return gave_up_;
}

}  // namespace sluice
