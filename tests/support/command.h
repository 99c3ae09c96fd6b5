// File: tests/support/command.h
//
// Runs a program the way a user's shell would, for tests of the `sluice`
// binary: its exit code and everything it wrote to stdout and stderr.
//
//   CommandResult result = RunCommand({SluiceBinary(), "validate", path});
//   EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
//
// Thread-compatible; each call uses temporary files of its own.
#pragma once

#include <string>
#include <vector>

namespace sluice::testing {

struct CommandResult {
  int exit_code = -1;  // 128 + N when killed by signal N
  std::string stdout_text;
  std::string stderr_text;
};

// `args[0]` is the program. `stdin_path` ("" = /dev/null) feeds stdin.
CommandResult RunCommand(const std::vector<std::string>& args, const std::string& stdin_path = "");

// A fresh empty directory under the test temp dir, removed by nobody (ctest's
// temp space is per run).
std::string MakeTempDir(const std::string& prefix);
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& contents);

}  // namespace sluice::testing
