#include "pipeline/clock.h"

namespace sluice {

const Clock& RealClock::Get() {
  static const RealClock* const clock = new RealClock();
  return *clock;
}

}  // namespace sluice
