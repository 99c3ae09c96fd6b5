#include "stages/flow/flow_internal.h"

#include <array>
#include <cmath>
#include <cstddef>

#include "xxhash.h"

namespace sluice::stages::internal {

uint64_t StableHash(std::string_view bytes, uint64_t seed) {
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
}

Fraction::Fraction(double rate) {
  if (rate >= 1.0) {
    all_ = true;
  } else if (rate > 0.0) {
    // rate < 1, so rate * 2^64 < 2^64: it fits.
    threshold_ = static_cast<uint64_t>(std::ldexp(rate, 64));
  }
}

uint64_t InstanceSeeds::Next() {
  const uint64_t n = made_.fetch_add(1, std::memory_order_relaxed);
  // Hashing (rather than adding n) keeps the streams apart: SplitMix64 seeds
  // that differ by its increment would give the same sequence shifted.
  // Little-endian bytes whatever the machine, so a seed means the same streams everywhere.
  std::array<char, sizeof(n)> bytes;
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return StableHash(std::string_view(bytes.data(), bytes.size()), seed_);
}

uint64_t ReadSeed(OptionReader& options) {
  return static_cast<uint64_t>(options.Int("seed", 0).value_or(0));
}

}  // namespace sluice::stages::internal
