// File: stages/flow/recent_keys.h
//
// RecentKeys remembers the 64-bit hashes of the keys seen within a time
// window, at most `max_keys` of them: the memory behind `type: dedupe`. A key
// is remembered from the time it was first seen (a duplicate does not extend
// its window), and forgotten when the window has passed or, if more than
// `max_keys` are remembered, oldest first.
//
//   RecentKeys recent(absl::Minutes(10), 100'000);
//   recent.SeenOrAdd(hash, t0);                        // false: new, remembered
//   recent.SeenOrAdd(hash, t0 + absl::Minutes(9));     // true: a duplicate
//   recent.SeenOrAdd(hash, t0 + absl::Minutes(10));    // false: window passed;
//                                                      // remembered anew
//
// Memory: about 36 bytes per remembered key (8 in a hash set slot plus its
// control byte at 7/8 load, 24 in the time-ordered queue): some 4 MB at
// 100000 keys.
//
// Times should not go backwards; if they do (a wall clock stepped back),
// keys are only forgotten later than they would be, never earlier.
//
// Thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"

namespace sluice::stages {

class RecentKeys {
 public:
  // REQUIRES: window > 0, max_keys >= 1.
  RecentKeys(absl::Duration window, size_t max_keys);

  // True if `hash` was first seen less than `window` before `now` and is
  // still remembered: a duplicate. Otherwise remembers it as first seen at
  // `now` (forgetting the oldest key if `max_keys` are remembered) and
  // returns false.
  bool SeenOrAdd(uint64_t hash, absl::Time now);

  // Keys remembered now (expired ones are forgotten lazily, on the next call).
  size_t size() const { return keys_.size(); }

 private:
  struct Seen {
    absl::Time at;
    uint64_t hash;
  };

  // Forgets every key first seen at or before now - window.
  void Expire(absl::Time now);

  const absl::Duration window_;
  const size_t max_keys_;
  // Invariant: keys_ holds exactly the hashes in order_, each once.
  absl::flat_hash_set<uint64_t> keys_;
  // Oldest first, so expiry and eviction both pop the front.
  std::deque<Seen> order_;
};

}  // namespace sluice::stages
