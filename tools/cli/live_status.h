// File: tools/cli/live_status.h
//
// The live one-line status of `sluice run` and `sluice bench` on a terminal:
// rewrites one line on stderr twice a second while the object lives (rates,
// in flight, dead-lettered; see StatusLine), and clears it when destroyed.
//
//   std::unique_ptr<LiveStatus> status;
//   if (isatty(STDERR_FILENO)) status = std::make_unique<LiveStatus>(*pipeline);
//   RunReport report = pipeline->Wait();
//
// Thread-safe; its own thread reads the pipeline's snapshots.
#pragma once

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"

#include "pipeline/pipeline.h"
#include "tools/cli/run_summary.h"

namespace sluice::cli {

class LiveStatus {
 public:
  explicit LiveStatus(const Pipeline& pipeline)
      : start_(absl::Now()), thread_([this, &pipeline] { Loop(pipeline); }) {}
  ~LiveStatus() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
    std::cerr << "\r\033[K" << std::flush;
  }

 private:
  void Loop(const Pipeline& pipeline) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stop_; })) {
      std::cerr << "\r\033[K" << StatusLine(pipeline.Snapshot(), absl::Now() - start_)
                << std::flush;
    }
  }

  const absl::Time start_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sluice::cli
