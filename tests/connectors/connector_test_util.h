// File: tests/connectors/connector_test_util.h
//
// Helpers for the connector tests: a temporary directory removed at the end
// of the test, whole-file reads and writes, and a sink that records each
// event's value and origin and lets a test wait for a count without
// sleeping.
//
// Thread-safe where shared: OriginLog locks.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include <unistd.h>

#include "pipeline/mutex.h"
#include "pipeline/stage.h"

namespace sluice::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/sluice-conn-XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << "mkdtemp " << pattern;
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteWholeFile(const std::string& path, std::string_view bytes, bool append = false) {
  std::ofstream out(path, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

struct RecordedEvent {
  std::string key;
  std::string value;
  int32_t partition = 0;
  int64_t offset = -1;
};

// What OriginSink saw, in arrival order.
class OriginLog {
 public:
  void Add(std::vector<RecordedEvent> events) {
    MutexLock lock(&mu_);
    for (RecordedEvent& event : events) events_.push_back(std::move(event));
    cv_.notify_all();
  }
  std::vector<RecordedEvent> events() const {
    MutexLock lock(&mu_);
    return events_;
  }
  // Waits until `count` events were seen; false after `timeout`.
  bool WaitFor(size_t count, absl::Duration timeout = absl::Seconds(30)) const {
    std::unique_lock<Mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return events_.size() >= count; });
  }

 private:
  mutable Mutex mu_;
  mutable CondVar cv_;
  std::vector<RecordedEvent> events_ ABSL_GUARDED_BY(mu_);
};

inline ConsumerFactory MakeOriginSink(std::shared_ptr<OriginLog> log) {
  class OriginSink final : public Consumer {
   public:
    explicit OriginSink(std::shared_ptr<OriginLog> log) : log_(std::move(log)) {}
    absl::Status HandleEvents(const EventBatch& batch, ConsumerAcks& acks) override {
      (void)acks;
      std::vector<RecordedEvent> events;
      for (const Event& event : batch) {
        events.push_back({std::string(event.key()), std::string(event.value()),
                          event.origin().partition.value(), event.origin().offset.value()});
      }
      log_->Add(std::move(events));
      return absl::OkStatus();
    }

   private:
    std::shared_ptr<OriginLog> log_;
  };
  return [log](const StageContext&) -> absl::StatusOr<std::unique_ptr<Consumer>> {
    return std::make_unique<OriginSink>(log);
  };
}

}  // namespace sluice::testing
