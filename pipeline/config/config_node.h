// File: pipeline/config/config_node.h
//
// A ConfigNode is one value of a pipeline's configuration, as a tree of maps,
// sequences and scalars, each remembering where it was written (file, line,
// column). The YAML loader (tools/config/) builds it; stage types read their
// options from it through OptionReader; every error about a value points at
// that value's SourceMark. The runtime stays free of any YAML library: this
// tree is all it sees of a config file.
//
//   ConfigNode root = ConfigNode::Map(mark);
//   root.Set("pipeline", mark, ConfigNode::Scalar("orders", mark));
//   const ConfigNode* name = root.Find("pipeline");   // "orders"
//
// A value type; thread-compatible.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// Where a value was written: 1-based line and column. A value that came from
// a command-line override has the file "--set" and line 0.
struct SourceMark {
  std::shared_ptr<const std::string> file;
  int line = 0;
  int column = 0;

  // "pipeline.yaml:12:5", or "--set" without a line.
  std::string ToString() const;
};

class ConfigNode {
 public:
  enum class Kind { kNull, kScalar, kSequence, kMap };
  struct Entry;

  ConfigNode() = default;
  static ConfigNode Null(SourceMark mark);
  // `quoted`: written in quotes, so always a string ("yes", "10" stay text).
  static ConfigNode Scalar(std::string value, SourceMark mark, bool quoted = false);
  static ConfigNode Sequence(SourceMark mark);
  static ConfigNode Map(SourceMark mark);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_scalar() const { return kind_ == Kind::kScalar; }
  bool is_sequence() const { return kind_ == Kind::kSequence; }
  bool is_map() const { return kind_ == Kind::kMap; }
  const SourceMark& mark() const { return mark_; }
  // "a map", "a list", "a string", "null": for "expected X, got Y" messages.
  std::string_view kind_name() const;

  // Scalars.
  const std::string& scalar() const { return scalar_; }
  bool quoted() const { return quoted_; }
  void set_scalar(std::string value) { scalar_ = std::move(value); }

  // Sequences.
  const std::vector<ConfigNode>& items() const { return items_; }
  std::vector<ConfigNode>& mutable_items() { return items_; }
  void Append(ConfigNode item) { items_.push_back(std::move(item)); }

  // Maps keep their keys in the order written.
  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<Entry>& mutable_entries() { return entries_; }
  // The value under `key`, or null if absent (or if this is not a map).
  const ConfigNode* Find(std::string_view key) const;
  ConfigNode* FindMutable(std::string_view key);
  // The entry under `key`, or null.
  const Entry* FindEntry(std::string_view key) const;
  // Replaces the value under `key`, or appends it.
  void Set(std::string key, SourceMark key_mark, ConfigNode value);

 private:
  Kind kind_ = Kind::kNull;
  SourceMark mark_;
  std::string scalar_;
  bool quoted_ = false;
  std::vector<ConfigNode> items_;
  std::vector<Entry> entries_;
};

struct ConfigNode::Entry {
  std::string key;
  SourceMark key_mark;
  ConfigNode value;
};

}  // namespace sluice
