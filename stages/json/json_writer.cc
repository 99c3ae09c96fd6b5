#include "stages/json/json_writer.h"

#include <cassert>
#include <charconv>
#include <cmath>

#include "stages/json/json_scalar.h"

namespace sluice::stages {

void AppendJsonString(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t run_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
        break;
    }
  }
  out.append(text.data() + run_start, text.size() - run_start);
  out += '"';
}

void AppendJsonInt64(int64_t value, std::string& out) {
  char buffer[24];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

void AppendJsonUint64(uint64_t value, std::string& out) {
  char buffer[24];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

void AppendJsonDouble(double value, std::string& out) {
  assert(std::isfinite(value));
  char buffer[40];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  const std::string_view text(buffer, static_cast<size_t>(result.ptr - buffer));
  out += text;
  if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

void AppendConfigAsJson(const ConfigNode& node, std::string& out) {
  switch (node.kind()) {
    case ConfigNode::Kind::kNull:
      out += "null";
      return;
    case ConfigNode::Kind::kScalar:
      out += JsonScalar::FromConfig(node).ToJson();
      return;
    case ConfigNode::Kind::kSequence: {
      out += '[';
      bool first = true;
      for (const ConfigNode& item : node.items()) {
        if (!first) out += ',';
        first = false;
        AppendConfigAsJson(item, out);
      }
      out += ']';
      return;
    }
    case ConfigNode::Kind::kMap: {
      out += '{';
      bool first = true;
      for (const ConfigNode::Entry& entry : node.entries()) {
        if (!first) out += ',';
        first = false;
        AppendJsonString(entry.key, out);
        out += ':';
        AppendConfigAsJson(entry.value, out);
      }
      out += '}';
      return;
    }
  }
}

}  // namespace sluice::stages
