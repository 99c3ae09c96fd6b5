// File: tools/cli/cli.h
//
// The `sluice` command line as a library: `sluice run|validate|graph|test`.
// The `sluice` binary is one call to RunCli(); a user who links stages of
// their own builds the same binary around them (docs/custom-stages.md).
//
// Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.
//
// Not thread-safe: call once, from main().
#pragma once

namespace sluice::cli {

int RunCli(int argc, char** argv);

}  // namespace sluice::cli
