#include "stages/json/json_tree.h"

#include <cassert>
#include <string>

#include "absl/strings/str_cat.h"

#include "pipeline/string_view_compat.h"
#include "stages/json/json_dom.h"
#include "stages/json/json_writer.h"

namespace sluice::stages {

using ElementType = simdjson::dom::element_type;

void JsonTree::Clear() {
  nodes_.clear();
  root_ = kNoNode;
}

JsonTree::NodeId JsonTree::NewNode(ElementType type) {
  const auto id = static_cast<NodeId>(nodes_.size());
  nodes_.emplace_back().type = type;
  return id;
}

JsonTree::NodeId JsonTree::Import(simdjson::dom::element element) {
  const ElementType type = element.type();
  const NodeId id = NewNode(type);
  // No references into nodes_ across the recursive calls: they grow it.
  switch (type) {
    case ElementType::NULL_VALUE:
      break;
    case ElementType::BOOL:
      nodes_[id].boolean = element.get_bool().value_unsafe();
      break;
    case ElementType::INT64:
      nodes_[id].int64 = element.get_int64().value_unsafe();
      break;
    case ElementType::UINT64:
      nodes_[id].uint64 = element.get_uint64().value_unsafe();
      break;
    case ElementType::DOUBLE:
      nodes_[id].float64 = element.get_double().value_unsafe();
      break;
    case ElementType::STRING:
      nodes_[id].string = element.get_string().value_unsafe();
      break;
    case ElementType::ARRAY: {
      // A named copy: a range-for over value_unsafe() of the temporary
      // result would iterate a dead object.
      const simdjson::dom::array array = element.get_array().value_unsafe();
      for (simdjson::dom::element item : array) AppendChild(id, Import(item));
      break;
    }
    case ElementType::OBJECT: {
      const simdjson::dom::object object = element.get_object().value_unsafe();
      for (simdjson::dom::key_value_pair member : object) {
        const NodeId child = Import(member.value);
        nodes_[child].key = member.key;
        AppendChild(id, child);
      }
      break;
    }
  }
  return id;
}

void JsonTree::AppendChild(NodeId parent, NodeId child) {
  nodes_[child].next = kNoNode;
  Node& node = nodes_[parent];
  if (node.last_child == kNoNode) {
    node.first_child = child;
  } else {
    nodes_[node.last_child].next = child;
  }
  node.last_child = child;
}

void JsonTree::Unlink(NodeId parent, ChildRef ref) {
  Node& node = nodes_[parent];
  const NodeId next = nodes_[ref.child].next;
  if (ref.previous == kNoNode) {
    node.first_child = next;
  } else {
    nodes_[ref.previous].next = next;
  }
  if (node.last_child == ref.child) node.last_child = ref.previous;
  nodes_[ref.child].next = kNoNode;
}

void JsonTree::Replace(NodeId parent, ChildRef ref, NodeId replacement) {
  Node& node = nodes_[parent];
  nodes_[replacement].next = nodes_[ref.child].next;
  if (ref.previous == kNoNode) {
    node.first_child = replacement;
  } else {
    nodes_[ref.previous].next = replacement;
  }
  if (node.last_child == ref.child) node.last_child = replacement;
  nodes_[ref.child].next = kNoNode;
}

JsonTree::ChildRef JsonTree::FindMember(NodeId object, std::string_view key) const {
  NodeId previous = kNoNode;
  for (NodeId child = nodes_[object].first_child; child != kNoNode; child = nodes_[child].next) {
    if (nodes_[child].key == key) return {child, previous};
    previous = child;
  }
  return {};
}

JsonTree::ChildRef JsonTree::FindElement(NodeId array, size_t index) const {
  NodeId previous = kNoNode;
  size_t position = 0;
  for (NodeId child = nodes_[array].first_child; child != kNoNode; child = nodes_[child].next) {
    if (position++ == index) return {child, previous};
    previous = child;
  }
  return {};
}

size_t JsonTree::CountChildren(NodeId parent) const {
  size_t count = 0;
  for (NodeId child = nodes_[parent].first_child; child != kNoNode; child = nodes_[child].next) {
    ++count;
  }
  return count;
}

void JsonTree::RemoveLaterMembers(NodeId object, NodeId after, std::string_view key) {
  NodeId previous = after;
  NodeId child = nodes_[after].next;
  while (child != kNoNode) {
    const NodeId next = nodes_[child].next;
    if (nodes_[child].key == key) {
      Unlink(object, {child, previous});
    } else {
      previous = child;
    }
    child = next;
  }
}

JsonTree::NodeId JsonTree::Find(const JsonPointer& pointer) const {
  NodeId current = root_;
  for (const JsonPointerToken& token : pointer.tokens()) {
    if (current == kNoNode) return kNoNode;
    const Node& node = nodes_[current];
    if (node.type == ElementType::OBJECT) {
      current = FindMember(current, token.name).child;
    } else if (node.type == ElementType::ARRAY && token.index) {
      current = FindElement(current, *token.index).child;
    } else {
      return kNoNode;
    }
  }
  return current;
}

JsonTree::NodeId JsonTree::FindParent(const JsonPointer& pointer) const {
  const std::vector<JsonPointerToken>& tokens = pointer.tokens();
  NodeId current = root_;
  for (size_t i = 0; i + 1 < tokens.size() && current != kNoNode; ++i) {
    const Node& node = nodes_[current];
    if (node.type == ElementType::OBJECT) {
      current = FindMember(current, tokens[i].name).child;
    } else if (node.type == ElementType::ARRAY && tokens[i].index) {
      current = FindElement(current, *tokens[i].index).child;
    } else {
      return kNoNode;
    }
  }
  return current;
}

JsonTree::NodeId JsonTree::Detach(const JsonPointer& pointer) {
  const NodeId parent = FindParent(pointer);
  if (parent == kNoNode) return kNoNode;
  const JsonPointerToken& token = pointer.tokens().back();
  ChildRef ref;
  if (nodes_[parent].type == ElementType::OBJECT) {
    ref = FindMember(parent, token.name);
    if (ref.child == kNoNode) return kNoNode;
    RemoveLaterMembers(parent, ref.child, token.name);
  } else if (nodes_[parent].type == ElementType::ARRAY && token.index) {
    ref = FindElement(parent, *token.index);
    if (ref.child == kNoNode) return kNoNode;
  } else {
    return kNoNode;
  }
  Unlink(parent, ref);
  return ref.child;
}

bool JsonTree::Remove(const JsonPointer& pointer) { return Detach(pointer) != kNoNode; }

absl::Status JsonTree::Put(const JsonPointer& pointer, NodeId node) {
  assert(root_ != kNoNode);
  const std::vector<JsonPointerToken>& tokens = pointer.tokens();
  NodeId parent = root_;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const JsonPointerToken& token = tokens[i];
    const bool last = i + 1 == tokens.size();
    const ElementType type = nodes_[parent].type;
    if (type == ElementType::OBJECT) {
      const ChildRef ref = FindMember(parent, token.name);
      if (last) {
        nodes_[node].key = token.name;
        if (ref.child == kNoNode) {
          AppendChild(parent, node);
        } else {
          // A repeated key would leave a reader that takes the last one
          // seeing the old value.
          RemoveLaterMembers(parent, ref.child, token.name);
          Replace(parent, ref, node);
        }
        return absl::OkStatus();
      }
      if (ref.child != kNoNode) {
        parent = ref.child;
        continue;
      }
      const NodeId created = NewNode(ElementType::OBJECT);
      nodes_[created].key = token.name;
      AppendChild(parent, created);
      parent = created;
      continue;
    }
    if (type == ElementType::ARRAY) {
      if (last && token.name == "-") {
        AppendChild(parent, node);
        return absl::OkStatus();
      }
      if (!token.index) {
        return absl::InvalidArgumentError(absl::StrCat("\"", Av(pointer.Prefix(i)),
                                                       "\" is an array and \"", token.name,
                                                       "\" is not an index or \"-\""));
      }
      const ChildRef ref = FindElement(parent, *token.index);
      if (ref.child == kNoNode) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", Av(pointer.Prefix(i)), "\" has no index ", *token.index, " (it has ",
                         CountChildren(parent), " elements)"));
      }
      if (last) {
        Replace(parent, ref, node);
        return absl::OkStatus();
      }
      parent = ref.child;
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat("\"", Av(pointer.Prefix(i)), "\" is ",
                                                   Av(JsonTypeWithArticle(type)),
                                                   ", not an object or array"));
  }
  return absl::OkStatus();
}

void JsonTree::Serialize(std::string& out) const {
  if (root_ != kNoNode) SerializeNode(root_, out);
}

void JsonTree::SerializeNode(NodeId id, std::string& out) const {
  const Node& node = nodes_[id];
  switch (node.type) {
    case ElementType::NULL_VALUE:
      out += "null";
      return;
    case ElementType::BOOL:
      out += node.boolean ? "true" : "false";
      return;
    case ElementType::INT64:
      AppendJsonInt64(node.int64, out);
      return;
    case ElementType::UINT64:
      AppendJsonUint64(node.uint64, out);
      return;
    case ElementType::DOUBLE:
      AppendJsonDouble(node.float64, out);
      return;
    case ElementType::STRING:
      AppendJsonString(node.string, out);
      return;
    case ElementType::ARRAY:
      out += '[';
      for (NodeId child = node.first_child; child != kNoNode; child = nodes_[child].next) {
        if (child != node.first_child) out += ',';
        SerializeNode(child, out);
      }
      out += ']';
      return;
    case ElementType::OBJECT:
      out += '{';
      for (NodeId child = node.first_child; child != kNoNode; child = nodes_[child].next) {
        if (child != node.first_child) out += ',';
        AppendJsonString(nodes_[child].key, out);
        out += ':';
        SerializeNode(child, out);
      }
      out += '}';
      return;
  }
}

}  // namespace sluice::stages
