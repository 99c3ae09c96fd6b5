// File: tools/cli/json_writer.h
//
// Writes JSON text for the commands' `--json` output: objects, arrays,
// strings (escaped), numbers and booleans, with commas placed for you.
//
//   JsonWriter json;
//   json.BeginObject();
//   json.Key("events_per_sec").Number(1.5e6);
//   json.Key("stages").BeginArray();
//   json.String("parse");
//   json.EndArray();
//   json.EndObject();
//   std::string text = json.Take();  // {"events_per_sec":1500000,"stages":["parse"]}
//
// Strings should be UTF-8 text: control characters are escaped, valid UTF-8
// passes through, each invalid byte becomes \ufffd
// (pipeline/json_quote.h). Non-finite numbers are written as null.
//
// Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::cli {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // Inside an object: the next value's name.
  JsonWriter& Key(std::string_view name);
  JsonWriter& String(std::string_view text);
  JsonWriter& Number(double value);
  JsonWriter& Integer(int64_t value);
  JsonWriter& Bool(bool value);

  std::string Take() { return std::move(out_); }

 private:
  // Puts a comma before a value that is not the first of its container.
  void BeforeValue();
  void AppendString(std::string_view text);

  std::string out_;
  // Per open container: whether it has a value yet.
  std::vector<bool> has_value_;
  bool after_key_ = false;
};

}  // namespace sluice::cli
