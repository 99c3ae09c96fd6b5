// File: tools/cli/validate_connect.h
//
// `sluice validate --connect`: after the static checks, what only the outside
// world can answer. For every `type: kafka` stage, its brokers answer a
// metadata request within the timeout, and the topics it names exist (a
// source's `topics`, a sink's `topic`); for every dead-letter target, that it
// can be written (a file's directory exists or can be created, and is
// writable). Nothing is created, produced or committed: the metadata request
// asks for all topics (asking for one by name could auto-create it), and the
// dead-letter check only looks at permissions.
//
//   std::vector<std::string> notes;
//   absl::Status reachable = CheckConnections(*loaded, absl::Seconds(5), notes);
//   // reachable: kInvalidArgument, one "file:line:column: stage "in": ..." per line
//
// `brokers: embedded` is the broker `sluice run` starts inside its own
// process: there is nothing to connect to beforehand, and it creates topics on
// demand, so such a stage passes with a note.
//
// Thread-compatible; makes and destroys its own librdkafka clients.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

#include "tools/cli/commands.h"

namespace sluice::cli {

// Checks what `loaded` connects to; each broker check waits at most
// `timeout`. Returns OK, or kInvalidArgument whose message has one
// "file:line:column: <what failed>" per problem, in file order. `notes`
// receives one line per check that passed ("stage "in": brokers ... answered").
absl::Status CheckConnections(const LoadedConfig& loaded, absl::Duration timeout,
                              std::vector<std::string>& notes);

}  // namespace sluice::cli
