// File: pipeline/ack_tracker.h
//
// An AckTracker follows, for one source instance, which of the events it
// emitted are done, and computes per partition the commit point: the offset
// below which every tracked event is done. An event is done when a terminal
// stage acknowledged it, a filter dropped it, or the dead-letter sink stored
// it; a broadcast event is done when every branch it went to is done, which
// AddRefs() arranges.
//
// Worked example (partition 0): Track(5, 6, 7, 8). Done(7): commit point stays
// 5 - 5 and 6 are still in flight. Done(5): 6. Done(6): 8 (7 was already
// done). Done(8): 9, the next offset to read, which is what Kafka commits.
//
// Offsets need not be contiguous (Kafka compaction leaves gaps): Track(5, 9),
// Done(5) gives commit point 9.
//
// Thread-safe: the source calls Track() while any number of stage instances
// call Done() and AddRefs(). Calls take a short lock per call, so callers pass
// a whole run of offsets at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/types/span.h"

#include "pipeline/named_type.h"

namespace sluice {

class AckTracker {
 public:
  AckTracker();
  ~AckTracker();
  AckTracker(const AckTracker&) = delete;
  AckTracker& operator=(const AckTracker&) = delete;

  // Registers events emitted on `partition`, each expecting one completion.
  // REQUIRES: offsets increase, and exceed every offset tracked before on
  // this partition since the last Reset().
  void Track(Partition partition, absl::Span<const Offset> offsets);
  // Same as Track() for offsets first, first+1, ..., first+count-1.
  void TrackRange(Partition partition, Offset first, size_t count);
  // Each of `offsets` now expects `extra` more completions (a broadcast sent
  // it to 1 + extra branches). REQUIRES: each offset is tracked, not done.
  void AddRefs(Partition partition, absl::Span<const Offset> offsets, uint32_t extra);
  // One completion for each of `offsets`. An offset that reaches zero
  // outstanding completions is done. Completions for offsets not tracked
  // (forgotten by Reset()) are ignored.
  void Done(Partition partition, absl::Span<const Offset> offsets);
  // Same as Done() for offsets first, first+1, ..., first+count-1: the sink's
  // common case, without building a list of offsets.
  void DoneRange(Partition partition, Offset first, size_t count);

  // The offset below which every event tracked on `partition` is done: the
  // first tracked offset not yet done, or the last tracked offset + 1 when
  // all are done. nullopt if nothing was ever tracked there.
  std::optional<Offset> CommitPoint(Partition partition) const;
  // Events tracked on `partition` and not yet done.
  size_t in_flight(Partition partition) const;
  // Events tracked on all partitions and not yet done.
  size_t in_flight() const;
  // Partitions with something tracked since their last Reset().
  std::vector<Partition> partitions() const;
  // Forgets `partition` (Kafka revoked it): later completions for it are
  // ignored and its commit point becomes nullopt.
  void Reset(Partition partition);

 private:
  friend class AckTrackerTestPeer;  // tests/pipeline/ack_tracker_test.cc

  // A ring of the partition's tracked offsets that are not yet committed.
  class PartitionState;
  // The mutex and the partition map it guards (see ack_tracker.cc).
  struct State;

  // Entries the ring of `partition` holds before it must grow; 0 if nothing
  // is tracked there. Lets tests check that memory follows the in-flight
  // window, not history.
  size_t ring_capacity(Partition partition) const;

  std::unique_ptr<State> state_;
};

}  // namespace sluice
