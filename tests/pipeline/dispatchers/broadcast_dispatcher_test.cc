#include "pipeline/dispatchers/broadcast_dispatcher.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "pipeline/dispatcher.h"
#include "pipeline/event_batch.h"
#include "tests/support/recording_dispatch_target.h"

namespace sluice {
namespace {

using ::sluice::testing::KeysOf;
using ::sluice::testing::MakeBatch;
using ::sluice::testing::MakeNumberedBatch;
using ::sluice::testing::Member;
using ::sluice::testing::RecordingDispatchTarget;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::StartsWith;

const SubscriptionId kFast(1);
const SubscriptionId kSlow(2);
constexpr uint32_t kFastGroup = 10;
constexpr uint32_t kSlowGroup = 20;

std::vector<std::string> Numbered(int first, int count, int step = 1) {
  std::vector<std::string> keys;
  for (int i = first; i < first + count * step; i += step) keys.push_back(absl::StrCat("e", i));
  return keys;
}

// Accepts events keyed "e<n>" with even n.
bool IsEven(const Event& event) { return (std::stoi(std::string(event.key().substr(1))) % 2) == 0; }

TEST(BroadcastDispatcherTest, SendsEveryEventToEveryGroupAfterFanout) {
  BroadcastDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kFast.value(), kFastGroup));
  dispatcher.Subscribe(Member(kSlow.value(), kSlowGroup));
  target.Ask(dispatcher, kFast, 5);
  target.Ask(dispatcher, kSlow, 5);
  EventBatch pending = MakeNumberedBatch("e", 0, 3);

  dispatcher.Dispatch(pending, target);

  EXPECT_THAT(target.KeysSentTo(kFast), ElementsAre("e0", "e1", "e2"));
  EXPECT_THAT(target.KeysSentTo(kSlow), ElementsAre("e0", "e1", "e2"));
  EXPECT_TRUE(pending.empty());
  // Every event counted twice, and all counting happened before any send.
  EXPECT_THAT(target.calls(), ElementsAre("fanout:e0:2", "fanout:e1:2", "fanout:e2:2",
                                          StartsWith("send:"), StartsWith("send:")));
  EXPECT_EQ(dispatcher.AvailableDemand(), 2);
}

TEST(BroadcastDispatcherTest, MovesAtThePaceOfTheSlowestGroup) {
  BroadcastDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kFast.value(), kFastGroup));
  dispatcher.Subscribe(Member(kSlow.value(), kSlowGroup));
  target.Ask(dispatcher, kFast, 100);
  target.Ask(dispatcher, kSlow, 10);
  EXPECT_EQ(dispatcher.AvailableDemand(), 10);
  EventBatch pending = MakeNumberedBatch("e", 0, 50);

  dispatcher.Dispatch(pending, target);

  EXPECT_THAT(target.KeysSentTo(kFast), ElementsAreArray(Numbered(0, 10)));
  EXPECT_THAT(target.KeysSentTo(kSlow), ElementsAreArray(Numbered(0, 10)));
  EXPECT_THAT(KeysOf(pending), ElementsAreArray(Numbered(10, 40)));
  EXPECT_EQ(dispatcher.AvailableDemand(), 0);  // min(90, 0)

  // More demand from the fast group alone moves nothing.
  target.Ask(dispatcher, kFast, 50);
  dispatcher.Dispatch(pending, target);
  EXPECT_EQ(target.ReceivedBy(kFast), 10);
  EXPECT_EQ(pending.size(), 40u);

  target.Ask(dispatcher, kSlow, 40);
  dispatcher.Dispatch(pending, target);
  EXPECT_THAT(target.KeysSentTo(kFast), ElementsAreArray(Numbered(0, 50)));
  EXPECT_THAT(target.KeysSentTo(kSlow), ElementsAreArray(Numbered(0, 50)));
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(dispatcher.AvailableDemand(), 0);  // min(100, 0)
  EXPECT_EQ(target.fanouts().size(), 50u);
}

TEST(BroadcastDispatcherTest, SelectorFiltersAndUnselectedEventsUseNoDemand) {
  BroadcastDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kFast.value(), kFastGroup));
  dispatcher.Subscribe(Member(kSlow.value(), kSlowGroup, 0, 1, IsEven));
  target.Ask(dispatcher, kFast, 100);
  target.Ask(dispatcher, kSlow, 10);
  EventBatch pending = MakeNumberedBatch("e", 0, 50);

  dispatcher.Dispatch(pending, target);

  // The slow group's 10 are spent on even events only, so 20 events go.
  EXPECT_THAT(target.KeysSentTo(kFast), ElementsAreArray(Numbered(0, 20)));
  EXPECT_THAT(target.KeysSentTo(kSlow), ElementsAreArray(Numbered(0, 10, /*step=*/2)));
  // e20 is even and the slow group has no demand left: it waits, in order.
  EXPECT_THAT(KeysOf(pending), ElementsAreArray(Numbered(20, 30)));
  // Two copies of each even event; odd ones went to one group, no Fanout.
  ASSERT_EQ(target.fanouts().size(), 10u);
  for (size_t i = 0; i < target.fanouts().size(); ++i) {
    EXPECT_EQ(target.fanouts()[i].key, absl::StrCat("e", 2 * i));
    EXPECT_EQ(target.fanouts()[i].copies, 2u);
  }
  EXPECT_EQ(dispatcher.AvailableDemand(), 0);  // min(80, 0)
}

TEST(BroadcastDispatcherTest, EventNobodyWantsIsFannedOutToZeroAndDone) {
  BroadcastDispatcher dispatcher;
  RecordingDispatchTarget target;
  auto no_drops = [](const Event& event) { return !event.key().starts_with("drop"); };
  dispatcher.Subscribe(Member(kFast.value(), kFastGroup, 0, 1, no_drops));
  target.Ask(dispatcher, kFast, 2);
  EventBatch pending = MakeBatch({"a", "drop-1", "b", "drop-2", "c"});

  dispatcher.Dispatch(pending, target);

  EXPECT_THAT(target.KeysSentTo(kFast), ElementsAre("a", "b"));
  // "a" and "b" went to one group (no Fanout). Nobody wants the drops, so
  // they need no demand and leave `pending` as done; "c" waits for demand.
  EXPECT_THAT(target.calls(), ElementsAre("fanout:drop-1:0", "fanout:drop-2:0", "send:1:2"));
  EXPECT_THAT(KeysOf(pending), ElementsAre("c"));
}

TEST(BroadcastDispatcherTest, SplitsAGroupsRunAmongMembersByMostDemand) {
  BroadcastDispatcher dispatcher;
  RecordingDispatchTarget target;
  const SubscriptionId member_a(1);
  const SubscriptionId member_b(2);
  const SubscriptionId other_group(3);
  dispatcher.Subscribe(Member(member_a.value(), 0, 0, 2));
  dispatcher.Subscribe(Member(member_b.value(), 0, 1, 2));
  dispatcher.Subscribe(Member(other_group.value(), 1));
  target.Ask(dispatcher, member_a, 3);
  target.Ask(dispatcher, member_b, 5);
  target.Ask(dispatcher, other_group, 8);
  EXPECT_EQ(dispatcher.AvailableDemand(), 8);  // min(3 + 5, 8)
  EventBatch pending = MakeNumberedBatch("e", 0, 10);

  dispatcher.Dispatch(pending, target);

  EXPECT_THAT(target.KeysSentTo(member_b), ElementsAreArray(Numbered(0, 5)));
  EXPECT_THAT(target.KeysSentTo(member_a), ElementsAre("e5", "e6", "e7"));
  EXPECT_THAT(target.KeysSentTo(other_group), ElementsAreArray(Numbered(0, 8)));
  EXPECT_THAT(KeysOf(pending), ElementsAre("e8", "e9"));
  EXPECT_EQ(target.fanouts().size(), 8u);
}

TEST(BroadcastDispatcherTest, OneGroupWithoutSelectorBalancesLikeDemandWithoutFanout) {
  BroadcastDispatcher dispatcher;
  RecordingDispatchTarget target;
  const SubscriptionId member_a(1);
  const SubscriptionId member_b(2);
  dispatcher.Subscribe(Member(member_a.value(), 0, 0, 2));
  dispatcher.Subscribe(Member(member_b.value(), 0, 1, 2));
  target.Ask(dispatcher, member_a, 10);
  target.Ask(dispatcher, member_b, 30);
  EXPECT_EQ(dispatcher.AvailableDemand(), 40);
  EventBatch pending = MakeNumberedBatch("e", 0, 45);

  dispatcher.Dispatch(pending, target);

  EXPECT_THAT(target.KeysSentTo(member_b), ElementsAreArray(Numbered(0, 30)));
  EXPECT_THAT(target.KeysSentTo(member_a), ElementsAreArray(Numbered(30, 10)));
  EXPECT_EQ(pending.size(), 5u);
  EXPECT_THAT(target.fanouts(), IsEmpty());
}

TEST(BroadcastDispatcherTest, KeepsEventsWhenNobodyIsSubscribed) {
  BroadcastDispatcher dispatcher;
  RecordingDispatchTarget target;
  EventBatch pending = MakeNumberedBatch("e", 0, 3);

  dispatcher.Dispatch(pending, target);

  EXPECT_EQ(dispatcher.AvailableDemand(), 0);
  EXPECT_EQ(pending.size(), 3u);
  EXPECT_THAT(target.calls(), IsEmpty());
}

TEST(BroadcastDispatcherTest, ANewGroupWithoutDemandHoldsEveryoneBack) {
  BroadcastDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kFast.value(), kFastGroup));
  target.Ask(dispatcher, kFast, 10);
  dispatcher.Subscribe(Member(kSlow.value(), kSlowGroup));
  EventBatch pending = MakeNumberedBatch("e", 0, 3);

  dispatcher.Dispatch(pending, target);

  EXPECT_EQ(dispatcher.AvailableDemand(), 0);
  EXPECT_THAT(target.calls(), IsEmpty());
  EXPECT_EQ(pending.size(), 3u);
}

TEST(BroadcastDispatcherTest, CancellingTheSlowestGroupLetsTheRestGo) {
  BroadcastDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kFast.value(), kFastGroup));
  dispatcher.Subscribe(Member(kSlow.value(), kSlowGroup));
  target.Ask(dispatcher, kFast, 100);
  target.Ask(dispatcher, kSlow, 10);
  EventBatch pending = MakeNumberedBatch("e", 0, 50);
  dispatcher.Dispatch(pending, target);
  ASSERT_EQ(pending.size(), 40u);

  EXPECT_TRUE(dispatcher.Cancel(kSlow).empty());
  EXPECT_EQ(dispatcher.AvailableDemand(), 90);
  dispatcher.Dispatch(pending, target);

  EXPECT_THAT(target.KeysSentTo(kFast), ElementsAreArray(Numbered(0, 50)));
  EXPECT_EQ(target.ReceivedBy(kSlow), 10);
  EXPECT_EQ(target.fanouts().size(), 10u);  // only while there were two groups
  EXPECT_TRUE(pending.empty());
}

TEST(BroadcastDispatcherTest, EachGroupsBatchKeepsTheMemoryAlive) {
  BroadcastDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kFast.value(), kFastGroup));
  dispatcher.Subscribe(Member(kSlow.value(), kSlowGroup, 0, 1, IsEven));
  target.Ask(dispatcher, kFast, 4);
  target.Ask(dispatcher, kSlow, 4);
  {
    auto pending = std::make_unique<EventBatch>(MakeNumberedBatch("e", 0, 4));
    dispatcher.Dispatch(*pending, target);
  }

  EXPECT_THAT(target.ValuesSentTo(kFast), ElementsAre("e0", "e1", "e2", "e3"));
  EXPECT_THAT(target.ValuesSentTo(kSlow), ElementsAre("e0", "e2"));
}

TEST(BroadcastDispatcherTest, FactoryMakesABroadcastDispatcher) {
  std::unique_ptr<Dispatcher> dispatcher = MakeBroadcastDispatcher();
  RecordingDispatchTarget target;
  dispatcher->Subscribe(Member(kFast.value(), kFastGroup));
  dispatcher->Subscribe(Member(kSlow.value(), kSlowGroup));
  target.Ask(*dispatcher, kFast, 1);
  target.Ask(*dispatcher, kSlow, 1);
  EventBatch pending = MakeNumberedBatch("e", 0, 2);

  dispatcher->Dispatch(pending, target);

  EXPECT_THAT(target.KeysSentTo(kFast), ElementsAre("e0"));
  EXPECT_THAT(target.KeysSentTo(kSlow), ElementsAre("e0"));
  EXPECT_EQ(dispatcher->held_events(), 0u);
}

}  // namespace
}  // namespace sluice
