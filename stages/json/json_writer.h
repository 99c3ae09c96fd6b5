// File: stages/json/json_writer.h
//
// Writing JSON text: strings escaped as RFC 8259 requires, numbers in the
// shortest form that reads back to the same value, and a config value
// (a YAML map, list or scalar) as the JSON it stands for, for json_transform's
// `set:`.
//
//   std::string out;
//   AppendJsonString("say \"hi\"\n", out);   // "say \"hi\"\n", quoted
//   AppendJsonDouble(2.0, out);               // 2.0 (stays a non-integer)
//
// Stateless functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "pipeline/config/config_node.h"

namespace sluice::stages {

// Appends `text` (UTF-8) quoted and escaped: `"`, `\` and control characters.
void AppendJsonString(std::string_view text, std::string& out);
void AppendJsonInt64(int64_t value, std::string& out);
void AppendJsonUint64(uint64_t value, std::string& out);
// The shortest text that reads back as `value`, with ".0" added to whole
// numbers so that a non-integer stays one (`2.0`, `1e+21`, `0.5`).
// REQUIRES: `value` is finite (JSON has no NaN or infinity).
void AppendJsonDouble(double value, std::string& out);

// Appends the JSON for a config value: a map becomes an object, a list an
// array, null null, and a scalar what JsonScalar::FromConfig() reads it as
// (a quoted scalar is a string; `1`, `true`, `null` unquoted are literals).
void AppendConfigAsJson(const ConfigNode& node, std::string& out);

}  // namespace sluice::stages
