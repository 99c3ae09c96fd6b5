// File: tests/tools/sluice_process.h
//
// A `sluice` process a test starts, signals and waits for, with stdout and
// stderr going to files the test reads while it runs (tests/support/command.h
// runs a command to its end; these tests need it alive: to send SIGTERM
// mid-stream).
//
//   SluiceProcess run({kSluice, "run", config}, dir);
//   ASSERT_TRUE(run.WaitForStderr("partitions_assigned", absl::Seconds(30)));
//   run.Signal(SIGTERM);
//   EXPECT_EQ(run.Wait(absl::Seconds(60)), 0) << run.Stderr();
//
// Thread-compatible. The destructor kills (SIGKILL) and reaps a process
// still running, so no test leaves one behind.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/command.h"

namespace sluice::testing {

class SluiceProcess {
 public:
  // Starts `args` (args[0] the program) with stdout and stderr written to
  // `dir`/<name>.stdout and `dir`/<name>.stderr, stdin /dev/null.
  SluiceProcess(const std::vector<std::string>& args, const std::string& dir,
                const std::string& name = "sluice")
      : stdout_path_(dir + "/" + name + ".stdout"), stderr_path_(dir + "/" + name + ".stderr") {
    pid_ = fork();
    if (pid_ == 0) {
      // Not ctest's pipes: an orphan holding them would stall ctest.
      const int in = open("/dev/null", O_RDONLY);
      const int out = open(stdout_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0) _exit(126);
      dup2(in, STDIN_FILENO);
      dup2(out, STDOUT_FILENO);
      dup2(err, STDERR_FILENO);
      std::vector<char*> argv;
      for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~SluiceProcess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  SluiceProcess(const SluiceProcess&) = delete;
  SluiceProcess& operator=(const SluiceProcess&) = delete;

  bool started() const { return pid_ > 0; }
  // Whether the process has exited (reaping it if so).
  bool ended() { return TryReap(); }
  pid_t pid() const { return pid_; }
  void Signal(int signal) const {
    if (pid_ > 0 && !reaped_) kill(pid_, signal);
  }

  // The exit code (128 + N if killed by signal N), or -1 if it did not end
  // within `timeout` (then it is killed).
  int Wait(absl::Duration timeout) {
    if (pid_ <= 0) return -1;
    const absl::Time deadline = absl::Now() + timeout;
    while (!TryReap()) {
      if (absl::Now() >= deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        reaped_ = true;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (WIFEXITED(exit_status_)) return WEXITSTATUS(exit_status_);
    if (WIFSIGNALED(exit_status_)) return 128 + WTERMSIG(exit_status_);
    return -1;
  }

  // Polls stderr until it contains `text`; false if `timeout` passed first
  // or the process ended without writing it.
  bool WaitForStderr(const std::string& text, absl::Duration timeout) {
    return WaitFor([&] { return absl::StrContains(Stderr(), text); }, timeout);
  }

  // Polls `condition` until it holds, the process ends or `timeout` passes;
  // returns its last value.
  template <typename Condition>
  bool WaitFor(Condition condition, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (condition()) return true;
      if (TryReap()) return condition();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return condition();
  }

  std::string Stdout() const { return ReadFile(stdout_path_); }
  std::string Stderr() const { return ReadFile(stderr_path_); }

 private:
  // True once the process has ended (its status in exit_status_).
  bool TryReap() {
    if (reaped_) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    reaped_ = true;
    exit_status_ = status;
    return true;
  }

  std::string stdout_path_;
  std::string stderr_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int exit_status_ = 0;
};

// The "HOST:PORT" of `sluice run --metrics-address`'s stderr line
// `sluice: metrics on http://HOST:PORT`, once printed (waits up to 30 s); ""
// if it never was.
inline std::string MetricsAddress(SluiceProcess& run) {
  constexpr std::string_view kPrefix = "sluice: metrics on http://";
  std::string address;
  run.WaitFor(
      [&] {
        const std::string err = run.Stderr();
        const size_t at = err.find(kPrefix);
        if (at == std::string::npos) return false;
        const size_t end = err.find('\n', at);
        if (end == std::string::npos) return false;
        address = err.substr(at + kPrefix.size(), end - at - kPrefix.size());
        return true;
      },
      absl::Seconds(30));
  return address;
}

}  // namespace sluice::testing
