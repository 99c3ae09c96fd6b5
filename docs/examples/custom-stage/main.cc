// File: docs/examples/custom-stage/main.cc
//
// The whole `sluice` command line (run, validate, graph, test), built-in
// stages and connectors included, plus every stage linked into this binary:
// here `type: uppercase` from uppercase_stage.cc.
#include "tools/cli/cli.h"

int main(int argc, char** argv) { return sluice::cli::RunCli(argc, argv); }
