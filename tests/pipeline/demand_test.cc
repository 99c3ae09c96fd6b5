// SubscriptionDemand follows GenStage's consumer bookkeeping to the number.
#include "pipeline/demand.h"

#include <vector>

#include "gtest/gtest.h"

namespace sluice {
namespace {

TEST(SubscriptionDemandTest, AsksMaxDemandOnSubscribe) {
  SubscriptionDemand demand(1000, 750);
  EXPECT_EQ(demand.Subscribe(), 1000);
  EXPECT_EQ(demand.outstanding(), 1000);
  EXPECT_EQ(demand.max_chunk(), 250);
}

TEST(SubscriptionDemandTest, AsksAgainWhenPendingFallsToMinDemand) {
  // max 1000, min 750: once 250 have been handled we still expect 750
  // (= min_demand), so ask 250 more.
  SubscriptionDemand demand(1000, 750);
  demand.Subscribe();
  ASSERT_TRUE(demand.Receive(250));
  EXPECT_EQ(demand.TakeChunk(250), 250);
}

TEST(SubscriptionDemandTest, DoesNotAskAboveMinDemand) {
  // max 1000, min 500: chunks of up to 500; 100 handled leaves 900 expected
  // (> 500), so no ask yet; 400 more bring it to 500 and ask back to 1000.
  SubscriptionDemand demand(1000, 500);
  demand.Subscribe();
  ASSERT_TRUE(demand.Receive(500));
  EXPECT_EQ(demand.TakeChunk(100), 0);
  EXPECT_EQ(demand.TakeChunk(400), 500);
}

TEST(SubscriptionDemandTest, ReAskPointsOverALongRunFollowMaxAndMin) {
  // max 10, min 4: chunks of at most 6. Receiving in chunks of 3, the asks
  // come every second chunk (expected 7, then 4 <= min: ask 6).
  SubscriptionDemand demand(10, 4);
  demand.Subscribe();
  std::vector<int64_t> asks;
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(demand.Receive(3));
    const int64_t ask = demand.TakeChunk(3);
    asks.push_back(ask);
    if (ask > 0) demand.Asked(ask);
  }
  EXPECT_EQ(asks, (std::vector<int64_t>{0, 6, 0, 6, 0, 6}));
}

TEST(SubscriptionDemandTest, RejectsMoreEventsThanWereAskedFor) {
  SubscriptionDemand demand(10, 5);
  demand.Subscribe();
  EXPECT_FALSE(demand.Receive(11));
  EXPECT_EQ(demand.outstanding(), 10);  // nothing counted
  EXPECT_TRUE(demand.Receive(10));
  EXPECT_FALSE(demand.Receive(1));
  demand.Asked(5);
  EXPECT_TRUE(demand.Receive(5));
}

TEST(SubscriptionDemandTest, MinDemandZeroAsksOnlyWhenAllArrived) {
  SubscriptionDemand demand(100, 0);
  demand.Subscribe();
  ASSERT_TRUE(demand.Receive(100));
  EXPECT_EQ(demand.TakeChunk(60), 0);
  EXPECT_EQ(demand.TakeChunk(40), 100);
}

}  // namespace
}  // namespace sluice
