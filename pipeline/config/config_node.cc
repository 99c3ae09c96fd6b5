#include "pipeline/config/config_node.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace sluice {

std::string SourceMark::ToString() const {
  const std::string name = file ? *file : std::string("<config>");
  if (line <= 0) return name;
  return absl::StrCat(name, ":", line, ":", column);
}

ConfigNode ConfigNode::Null(SourceMark mark) {
  ConfigNode node;
  node.mark_ = std::move(mark);
  return node;
}

ConfigNode ConfigNode::Scalar(std::string value, SourceMark mark, bool quoted) {
  ConfigNode node;
  node.kind_ = Kind::kScalar;
  node.scalar_ = std::move(value);
  node.quoted_ = quoted;
  node.mark_ = std::move(mark);
  return node;
}

ConfigNode ConfigNode::Sequence(SourceMark mark) {
  ConfigNode node;
  node.kind_ = Kind::kSequence;
  node.mark_ = std::move(mark);
  return node;
}

ConfigNode ConfigNode::Map(SourceMark mark) {
  ConfigNode node;
  node.kind_ = Kind::kMap;
  node.mark_ = std::move(mark);
  return node;
}

std::string_view ConfigNode::kind_name() const {
  switch (kind_) {
    case Kind::kNull:
      return "null";
    case Kind::kScalar:
      return "a scalar";
    case Kind::kSequence:
      return "a list";
    case Kind::kMap:
      return "a map";
  }
  return "?";
}

const ConfigNode::Entry* ConfigNode::FindEntry(std::string_view key) const {
  for (const Entry& entry : entries_) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

const ConfigNode* ConfigNode::Find(std::string_view key) const {
  const Entry* entry = FindEntry(key);
  return entry == nullptr ? nullptr : &entry->value;
}

ConfigNode* ConfigNode::FindMutable(std::string_view key) {
  for (Entry& entry : entries_) {
    if (entry.key == key) return &entry.value;
  }
  return nullptr;
}

void ConfigNode::Set(std::string key, SourceMark key_mark, ConfigNode value) {
  if (ConfigNode* existing = FindMutable(key)) {
    *existing = std::move(value);
    return;
  }
  entries_.push_back({std::move(key), std::move(key_mark), std::move(value)});
}

}  // namespace sluice
