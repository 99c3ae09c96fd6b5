// File: pipeline/ack_tracker.cc
//
// Each partition keeps its tracked, not yet committed offsets in a ring: two
// parallel power-of-two arrays (offset, outstanding completions) addressed by
// a sequence number that only grows, physical slot = sequence & mask. The
// head is the commit point; Done() pops the done prefix, so the ring holds the
// in-flight window only, and a ring sized for that window is reused forever:
// no allocation per event once it has grown.
//
// Finding an offset's entry:
//   * while the ring's offsets are contiguous (the usual Kafka case), the
//     entry of `offset` is at head + (offset - front offset): O(1);
//   * after a gap, the entry right after the last one found is tried first
//     (acks mostly arrive in order), then a binary search: O(log window).
// A gap stops mattering once the head moves past it.
//
// One Mutex (pipeline/mutex.h: std::mutex, which TSan sees) guards every
// partition; each public call takes it once for its whole span.
#include "pipeline/ack_tracker.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <limits>
#include <numeric>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"

#include "pipeline/mutex.h"

namespace sluice {
namespace {

// The smallest ring a tracked partition gets.
constexpr size_t kMinRingCapacity = 64;
// The ring shrinks when its recent peak occupancy is at most 1/kShrinkRatio of
// its capacity ...
constexpr size_t kShrinkRatio = 4;
// ... measured over a period in which this many ring-fulls of entries were
// committed, so that a window which empties and refills every batch keeps
// its ring instead of reallocating it each time.
constexpr uint64_t kShrinkCheckRingCycles = 4;

}  // namespace

class AckTracker::PartitionState {
 public:
  PartitionState() = default;
  PartitionState(PartitionState&&) = default;
  PartitionState& operator=(PartitionState&&) = default;

  // Appends `offsets`, each expecting one completion. Returns how many were
  // appended (offsets that do not increase are skipped, see Append()).
  size_t Track(absl::Span<const Offset> offsets) {
    Reserve(size() + offsets.size());
    size_t tracked = 0;
    for (const Offset offset : offsets) {
      tracked += Append(offset.value()) ? 1 : 0;
    }
    FinishTrack(tracked);
    return tracked;
  }

  // Appends first, first+1, ..., first+count-1. Returns how many were
  // appended.
  size_t TrackRange(int64_t first, size_t count) {
    if (count == 0) return 0;
    if (has_tracked_ && first <= last_tracked_offset_) {
      assert(false && "AckTracker::TrackRange: offsets must increase");
      // Release builds keep the part of the range above what is tracked.
      const uint64_t overlap =
          static_cast<uint64_t>(last_tracked_offset_) - static_cast<uint64_t>(first) + 1;
      if (overlap >= count) return 0;
      first += static_cast<int64_t>(overlap);
      count -= overlap;
    }
    Reserve(size() + count);
    if (!empty() && first != last_tracked_offset_ + 1) last_gap_seq_ = tail_seq_;
    // Fill the ring in at most two straight runs (before and after the wrap).
    const size_t start_slot = tail_seq_ & mask_;
    const size_t first_run = std::min(count, capacity() - start_slot);
    std::iota(offsets_.begin() + start_slot, offsets_.begin() + start_slot + first_run, first);
    std::fill_n(remaining_.begin() + start_slot, first_run, 1u);
    std::iota(offsets_.begin(), offsets_.begin() + (count - first_run),
              first + static_cast<int64_t>(first_run));
    std::fill_n(remaining_.begin(), count - first_run, 1u);
    tail_seq_ += count;
    last_tracked_offset_ = first + static_cast<int64_t>(count) - 1;
    has_tracked_ = true;
    FinishTrack(count);
    return count;
  }

  // Adds `extra` outstanding completions to each of `offsets` that is tracked
  // and not done.
  void AddRefs(absl::Span<const Offset> offsets, uint32_t extra) {
    if (extra == 0) return;
    for (const Offset offset : offsets) {
      const std::optional<uint64_t> seq = Find(offset.value());
      if (!seq.has_value()) continue;  // not tracked: forgotten by Reset()
      hint_seq_ = *seq + 1;
      uint32_t& remaining = remaining_[*seq & mask_];
      if (remaining == 0) {
        assert(false && "AckTracker::AddRefs: offset is already done");
        continue;  // Reviving a done event would hold back the commit point.
      }
      assert(remaining <= std::numeric_limits<uint32_t>::max() - extra);
      remaining += extra;
    }
  }

  // Takes one completion from each of `offsets` and commits the done prefix.
  // Returns how many events became done.
  size_t Done(absl::Span<const Offset> offsets) {
    if (empty()) return 0;
    size_t completed = 0;
    // The ring does not change shape until PopDonePrefix(), so whether it is
    // contiguous is decided once per call.
    if (is_contiguous()) {
      const int64_t front = offsets_[head_seq_ & mask_];
      const uint64_t window = size();
      for (const Offset offset : offsets) {
        // Below the front wraps around to a huge position and is skipped too.
        const uint64_t position =
            static_cast<uint64_t>(offset.value()) - static_cast<uint64_t>(front);
        if (position >= window) continue;  // committed already, or never tracked
        completed += Complete(remaining_[(head_seq_ + position) & mask_]);
      }
    } else {
      for (const Offset offset : offsets) {
        const std::optional<uint64_t> seq = Find(offset.value());
        if (!seq.has_value()) continue;
        hint_seq_ = *seq + 1;
        completed += Complete(remaining_[*seq & mask_]);
      }
    }
    in_flight_ -= completed;
    PopDonePrefix();
    return completed;
  }

  // Done() for first, first+1, ..., first+count-1.
  size_t DoneRange(int64_t first, size_t count) {
    if (empty()) return 0;
    if (!is_contiguous()) {
      // Rare (gapped offsets): take the general path.
      std::vector<Offset> offsets;
      offsets.reserve(count);
      for (size_t i = 0; i < count; ++i) offsets.emplace_back(first + static_cast<int64_t>(i));
      return Done(offsets);
    }
    const int64_t front = offsets_[head_seq_ & mask_];
    const uint64_t window = size();
    size_t completed = 0;
    for (size_t i = 0; i < count; ++i) {
      const uint64_t position =
          static_cast<uint64_t>(first + static_cast<int64_t>(i)) - static_cast<uint64_t>(front);
      if (position >= window) continue;  // committed already, or never tracked
      completed += Complete(remaining_[(head_seq_ + position) & mask_]);
    }
    in_flight_ -= completed;
    PopDonePrefix();
    return completed;
  }

  // The first offset not done, or the last tracked offset + 1.
  Offset CommitPoint() const {
    return Offset(empty() ? last_tracked_offset_ + 1 : offsets_[head_seq_ & mask_]);
  }

  size_t in_flight() const { return in_flight_; }
  bool has_tracked() const { return has_tracked_; }
  size_t capacity() const { return offsets_.size(); }

 private:
  bool empty() const { return head_seq_ == tail_seq_; }
  size_t size() const { return static_cast<size_t>(tail_seq_ - head_seq_); }
  // True when the entry at head + i holds the front offset + i, for every i.
  bool is_contiguous() const { return head_seq_ >= last_gap_seq_; }

  // Counts one completion against `remaining`; returns 1 if it made the event
  // done.
  static size_t Complete(uint32_t& remaining) {
    if (remaining == 0) {
      // More completions than expected: a caller's bug. The event is done
      // already and waits for the prefix before it, so ignoring the extra one
      // keeps the commit point right.
      assert(false && "AckTracker::Done: offset completed more times than tracked");
      return 0;
    }
    --remaining;
    return remaining == 0 ? 1 : 0;
  }

  // Appends one offset. An offset at or below the last tracked one breaks
  // Track()'s REQUIRES: asserted in debug builds, skipped in release builds
  // so that the ring stays sorted.
  bool Append(int64_t offset) {
    if (has_tracked_ && offset <= last_tracked_offset_) {
      assert(false && "AckTracker::Track: offsets must increase");
      return false;
    }
    if (!empty() && offset != last_tracked_offset_ + 1) last_gap_seq_ = tail_seq_;
    const size_t slot = tail_seq_ & mask_;
    offsets_[slot] = offset;
    remaining_[slot] = 1;
    ++tail_seq_;
    last_tracked_offset_ = offset;
    has_tracked_ = true;
    return true;
  }

  void FinishTrack(size_t tracked) {
    in_flight_ += tracked;
    peak_size_ = std::max(peak_size_, size());
  }

  // The sequence number of the entry holding `offset`, or nullopt if
  // `offset` is not in the ring.
  std::optional<uint64_t> Find(int64_t offset) const {
    if (empty()) return std::nullopt;
    const int64_t front = offsets_[head_seq_ & mask_];
    if (offset < front || offset > last_tracked_offset_) return std::nullopt;
    if (is_contiguous()) {
      return head_seq_ + (static_cast<uint64_t>(offset) - static_cast<uint64_t>(front));
    }
    if (hint_seq_ >= head_seq_ && hint_seq_ < tail_seq_ && offsets_[hint_seq_ & mask_] == offset) {
      return hint_seq_;
    }
    // Lower bound over [head, tail): offsets increase along the sequence.
    uint64_t low = head_seq_;
    uint64_t count = size();
    while (count > 0) {
      const uint64_t step = count / 2;
      const uint64_t middle = low + step;
      if (offsets_[middle & mask_] < offset) {
        low = middle + 1;
        count -= step + 1;
      } else {
        count = step;
      }
    }
    if (low < tail_seq_ && offsets_[low & mask_] == offset) return low;
    return std::nullopt;  // a gap: this offset was never tracked
  }

  void PopDonePrefix() {
    uint64_t seq = head_seq_;
    while (seq != tail_seq_ && remaining_[seq & mask_] == 0) ++seq;
    committed_since_shrink_check_ += seq - head_seq_;
    head_seq_ = seq;
    MaybeShrink();
  }

  // Makes room for `entries` entries.
  void Reserve(size_t entries) {
    if (entries <= capacity()) return;
    Relocate(std::bit_ceil(std::max(entries, kMinRingCapacity)));
  }

  // Gives memory back once the window has stayed far below the ring's size.
  void MaybeShrink() {
    if (capacity() <= kMinRingCapacity ||
        committed_since_shrink_check_ < kShrinkCheckRingCycles * capacity()) {
      return;
    }
    const size_t peak = std::max(peak_size_, size());
    if (peak * kShrinkRatio <= capacity()) {
      Relocate(std::max(kMinRingCapacity, std::bit_ceil(std::max<size_t>(peak, 1) * 2)));
    }
    committed_since_shrink_check_ = 0;
    peak_size_ = size();
  }

  // Moves the live entries into a ring of `new_capacity` (a power of two no
  // smaller than size()).
  void Relocate(size_t new_capacity) {
    assert(std::has_single_bit(new_capacity) && new_capacity >= size());
    std::vector<int64_t> new_offsets(new_capacity);
    std::vector<uint32_t> new_remaining(new_capacity);
    const uint64_t new_mask = new_capacity - 1;
    for (uint64_t seq = head_seq_; seq != tail_seq_; ++seq) {
      new_offsets[seq & new_mask] = offsets_[seq & mask_];
      new_remaining[seq & new_mask] = remaining_[seq & mask_];
    }
    offsets_ = std::move(new_offsets);
    remaining_ = std::move(new_remaining);
    mask_ = new_mask;
  }

  // The ring: slot seq & mask_ holds the entry with sequence number seq, for
  // seq in [head_seq_, tail_seq_). offsets_ increase along the sequence.
  std::vector<int64_t> offsets_;
  std::vector<uint32_t> remaining_;  // outstanding completions; 0 = done
  uint64_t mask_ = 0;
  uint64_t head_seq_ = 0;
  uint64_t tail_seq_ = 0;
  // The entry after the last gap has this sequence number; the ring is
  // contiguous once the head reaches it.
  uint64_t last_gap_seq_ = 0;
  // Where the next lookup tries first: right after the last entry found.
  uint64_t hint_seq_ = 0;
  int64_t last_tracked_offset_ = 0;
  bool has_tracked_ = false;
  size_t in_flight_ = 0;  // entries with remaining_ > 0
  // For MaybeShrink(): the largest size() since the last check, and the
  // entries committed since then.
  size_t peak_size_ = 0;
  uint64_t committed_since_shrink_check_ = 0;
};

struct AckTracker::State {
  Mutex mu;
  absl::flat_hash_map<Partition, PartitionState> partitions ABSL_GUARDED_BY(mu);
  // Sum of in_flight() over `partitions`.
  size_t in_flight ABSL_GUARDED_BY(mu) = 0;
};

AckTracker::AckTracker() : state_(std::make_unique<State>()) {}

AckTracker::~AckTracker() = default;

void AckTracker::Track(Partition partition, absl::Span<const Offset> offsets) {
  if (offsets.empty()) return;
  MutexLock lock(&state_->mu);
  state_->in_flight += state_->partitions[partition].Track(offsets);
}

void AckTracker::TrackRange(Partition partition, Offset first, size_t count) {
  if (count == 0) return;
  MutexLock lock(&state_->mu);
  state_->in_flight += state_->partitions[partition].TrackRange(first.value(), count);
}

void AckTracker::AddRefs(Partition partition, absl::Span<const Offset> offsets, uint32_t extra) {
  if (offsets.empty() || extra == 0) return;
  MutexLock lock(&state_->mu);
  auto it = state_->partitions.find(partition);
  if (it == state_->partitions.end()) return;
  it->second.AddRefs(offsets, extra);
}

void AckTracker::Done(Partition partition, absl::Span<const Offset> offsets) {
  if (offsets.empty()) return;
  MutexLock lock(&state_->mu);
  auto it = state_->partitions.find(partition);
  if (it == state_->partitions.end()) return;  // never tracked, or Reset()
  state_->in_flight -= it->second.Done(offsets);
}

void AckTracker::DoneRange(Partition partition, Offset first, size_t count) {
  if (count == 0) return;
  MutexLock lock(&state_->mu);
  auto it = state_->partitions.find(partition);
  if (it == state_->partitions.end()) return;  // never tracked, or Reset()
  state_->in_flight -= it->second.DoneRange(first.value(), count);
}

std::optional<Offset> AckTracker::CommitPoint(Partition partition) const {
  MutexLock lock(&state_->mu);
  auto it = state_->partitions.find(partition);
  if (it == state_->partitions.end() || !it->second.has_tracked()) return std::nullopt;
  return it->second.CommitPoint();
}

size_t AckTracker::in_flight(Partition partition) const {
  MutexLock lock(&state_->mu);
  auto it = state_->partitions.find(partition);
  return it == state_->partitions.end() ? 0 : it->second.in_flight();
}

size_t AckTracker::in_flight() const {
  MutexLock lock(&state_->mu);
  return state_->in_flight;
}

std::vector<Partition> AckTracker::partitions() const {
  std::vector<Partition> tracked;
  {
    MutexLock lock(&state_->mu);
    tracked.reserve(state_->partitions.size());
    for (const auto& [partition, partition_state] : state_->partitions) {
      if (partition_state.has_tracked()) tracked.push_back(partition);
    }
  }
  std::sort(tracked.begin(), tracked.end());
  return tracked;
}

void AckTracker::Reset(Partition partition) {
  MutexLock lock(&state_->mu);
  auto it = state_->partitions.find(partition);
  if (it == state_->partitions.end()) return;
  state_->in_flight -= it->second.in_flight();
  state_->partitions.erase(it);
}

size_t AckTracker::ring_capacity(Partition partition) const {
  MutexLock lock(&state_->mu);
  auto it = state_->partitions.find(partition);
  return it == state_->partitions.end() ? 0 : it->second.capacity();
}

}  // namespace sluice
