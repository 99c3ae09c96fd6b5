// The `sluice` binary: everything lives in tools/cli/.
#include "tools/cli/cli.h"

int main(int argc, char** argv) { return sluice::cli::RunCli(argc, argv); }
