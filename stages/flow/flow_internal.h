// File: stages/flow/flow_internal.h
//
// Pieces shared by the flow stages (sample, dedupe, fault) and by nobody else:
// a stable 64-bit hash, a fraction as a threshold on 64-bit draws, and the
// seeded random streams that make `sample` and `fault` reproducible.
//
// Thread-compatible, except InstanceSeeds, which is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "pipeline/config/option_reader.h"

namespace sluice::stages::internal {

// XXH3-64 of `bytes` under `seed`: the same on every machine and in every run
// (XXH3's output is fixed by its specification), so decisions made from it
// are stable.
uint64_t StableHash(std::string_view bytes, uint64_t seed = 0);

// A fraction in [0, 1] as a test on uniformly distributed 64-bit numbers:
// Contains(draw) is true for a share `rate` of all draws. 0 and 1 are exact:
// rate 0 contains no draw, rate 1 every draw.
//
//   Fraction keep(0.25);   // threshold 2^62
//   keep.Contains(1);      // true
//   keep.Contains(~0ull);  // false
class Fraction {
 public:
  // REQUIRES: 0 <= rate <= 1.
  explicit Fraction(double rate);

  bool Contains(uint64_t draw) const { return all_ || draw < threshold_; }

 private:
  // Draws below this are in (when !all_); rate * 2^64, rounded down.
  uint64_t threshold_ = 0;
  bool all_ = false;
};

// SplitMix64: a small, fast generator of uniformly distributed 64-bit numbers
// whose sequence is fixed by its seed. Not for cryptography.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

// Hands every instance a stage type's factory makes its own random stream,
// fixed by the `seed:` option and by how many instances the factory made
// before it: the n-th instance (counting restarts) gets stream n. A restarted
// instance therefore continues with a fresh stream instead of replaying the
// one that led to its crash.
//
// Thread-safe: factories may run concurrently (restarts of several instances).
class InstanceSeeds {
 public:
  explicit InstanceSeeds(uint64_t seed) : seed_(seed) {}

  // The seed of the next instance's stream: a fixed function of (seed, n).
  uint64_t Next();

 private:
  const uint64_t seed_;
  // Relaxed: only that each call gets a distinct number matters.
  std::atomic<uint64_t> made_{0};
};

// The `seed:` option: an integer >= 0. Defaults to 0.
uint64_t ReadSeed(OptionReader& options);

}  // namespace sluice::stages::internal
