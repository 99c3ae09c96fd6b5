// File: stages/json/json_tree.h
//
// A JsonTree is a JSON document that can be edited by JSON Pointer: what
// json_transform builds from each event's parsed value, changes (rename,
// delete, set) and writes back out as minified JSON. simdjson's DOM is
// read-only, so the tree copies its shape (not its strings) into nodes of
// its own; those live in one vector that is cleared, never freed, between
// events, so a stage in its steady state edits without a heap allocation.
//
//   tree.Clear();
//   tree.SetRoot(tree.Import(root));
//   tree.Remove(password);                             // delete: [/password]
//   SLUICE_RETURN_IF_ERROR(tree.Put(source, tree.Import(literal)));
//   tree.Serialize(text);
//
// Strings (keys and string values) are views: into the simdjson document an
// element came from, or into the JsonPointer a key was set through. Those must
// outlive the tree's use until the next Clear().
//
// Internal to sluice_stages (see json_dom.h). Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include <simdjson.h>

#include "stages/json/json_path.h"

namespace sluice::stages {

class JsonTree {
 public:
  using NodeId = uint32_t;
  static constexpr NodeId kNoNode = UINT32_MAX;

  // Forgets the document, keeping the memory.
  void Clear();
  // Copies `element` and everything under it into new nodes, not yet part of
  // the document, and returns the top one.
  NodeId Import(simdjson::dom::element element);
  void SetRoot(NodeId root) { root_ = root; }

  // What `pointer` designates, or kNoNode.
  NodeId Find(const JsonPointer& pointer) const;
  // Takes what `pointer` designates out of the document and returns it (for a
  // repeated key: the first, and the others are removed too), or kNoNode if
  // there is nothing there.
  NodeId Detach(const JsonPointer& pointer);
  // Removes what `pointer` designates (every member of a repeated key).
  // Returns true if anything was removed.
  bool Remove(const JsonPointer& pointer);
  // Puts `node` (from Import() or Detach()) at `pointer`: replaces what is
  // there, or adds it, creating the objects missing on the way. In an array
  // the token is an existing index (replaced) or "-" (appended). Errors
  // (kInvalidArgument), naming the step that failed:
  //   `"/user" is a string, not an object or array`
  //   `"/tags" is an array and "x" is not an index or "-"`
  //   `"/tags" has no index 5 (it has 3 elements)`
  absl::Status Put(const JsonPointer& pointer, NodeId node);

  // Appends the document as minified JSON.
  void Serialize(std::string& out) const;

 private:
  struct Node {
    simdjson::dom::element_type type = simdjson::dom::element_type::NULL_VALUE;
    // The member name, for a node in an object.
    std::string_view key;
    // kString's value.
    std::string_view string;
    // The scalar, by `type`.
    union {
      int64_t int64 = 0;
      uint64_t uint64;
      double float64;
      bool boolean;
    };
    // Children of an array or object, in order: a singly linked list.
    NodeId first_child = kNoNode;
    NodeId last_child = kNoNode;
    NodeId next = kNoNode;
  };
  // Where a child sits in its parent's list.
  struct ChildRef {
    NodeId child = kNoNode;
    NodeId previous = kNoNode;  // kNoNode: the child is the first
  };

  NodeId NewNode(simdjson::dom::element_type type);
  void AppendChild(NodeId parent, NodeId child);
  void Unlink(NodeId parent, ChildRef ref);
  // Puts `replacement` where `ref.child` is.
  void Replace(NodeId parent, ChildRef ref, NodeId replacement);
  ChildRef FindMember(NodeId object, std::string_view key) const;
  ChildRef FindElement(NodeId array, size_t index) const;
  size_t CountChildren(NodeId parent) const;
  // Removes the members named `key` that come after `after`.
  void RemoveLaterMembers(NodeId object, NodeId after, std::string_view key);
  // The node holding the last token of `pointer` (its parent), or kNoNode.
  NodeId FindParent(const JsonPointer& pointer) const;
  void SerializeNode(NodeId node, std::string& out) const;

  std::vector<Node> nodes_;
  NodeId root_ = kNoNode;
};

}  // namespace sluice::stages
