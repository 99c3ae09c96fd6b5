#include "pipeline/dispatchers/demand_dispatcher.h"

#include <memory>
#include <string>
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
using ::sluice::testing::MakeNumberedBatch;
using ::sluice::testing::Member;
using ::sluice::testing::RecordingDispatchTarget;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

const SubscriptionId kA(1);
const SubscriptionId kB(2);

std::vector<std::string> Numbered(int first, int count) {
  std::vector<std::string> keys;
  for (int i = first; i < first + count; ++i) keys.push_back(absl::StrCat("e", i));
  return keys;
}

TEST(DemandDispatcherTest, SendsNothingWithoutDemand) {
  DemandDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kA.value()));
  EventBatch pending = MakeNumberedBatch("e", 0, 5);

  dispatcher.Dispatch(pending, target);

  EXPECT_THAT(target.sends(), IsEmpty());
  EXPECT_EQ(pending.size(), 5u);
  EXPECT_EQ(dispatcher.AvailableDemand(), 0);
}

TEST(DemandDispatcherTest, NeverSendsMoreThanAskedAndKeepsTheRestInOrder) {
  DemandDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kA.value()));
  target.Ask(dispatcher, kA, 3);
  EventBatch pending = MakeNumberedBatch("e", 0, 10);

  dispatcher.Dispatch(pending, target);

  EXPECT_THAT(target.KeysSentTo(kA), ElementsAre("e0", "e1", "e2"));
  EXPECT_THAT(KeysOf(pending), ElementsAreArray(Numbered(3, 7)));
  EXPECT_EQ(dispatcher.AvailableDemand(), 0);

  target.Ask(dispatcher, kA, 2);
  dispatcher.Dispatch(pending, target);

  EXPECT_THAT(target.KeysSentTo(kA), ElementsAreArray(Numbered(0, 5)));
  EXPECT_EQ(pending.size(), 5u);
  EXPECT_EQ(target.sends().size(), 2u);
}

TEST(DemandDispatcherTest, SendsToTheSubscriberWithTheMostPendingDemand) {
  DemandDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kA.value()));
  dispatcher.Subscribe(Member(kB.value()));
  target.Ask(dispatcher, kA, 10);
  target.Ask(dispatcher, kB, 30);
  EXPECT_EQ(dispatcher.AvailableDemand(), 40);
  EventBatch pending = MakeNumberedBatch("e", 0, 20);

  dispatcher.Dispatch(pending, target);

  // One batch, all of it to B (30 > 10).
  ASSERT_EQ(target.sends().size(), 1u);
  EXPECT_THAT(target.KeysSentTo(kB), ElementsAreArray(Numbered(0, 20)));
  EXPECT_THAT(target.KeysSentTo(kA), IsEmpty());
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(dispatcher.AvailableDemand(), 20);  // A 10 + B 10
}

TEST(DemandDispatcherTest, FillsTheLargestDemandFirstThenTheNext) {
  DemandDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kA.value()));
  dispatcher.Subscribe(Member(kB.value()));
  target.Ask(dispatcher, kA, 10);
  target.Ask(dispatcher, kB, 30);
  EventBatch pending = MakeNumberedBatch("e", 0, 45);

  dispatcher.Dispatch(pending, target);

  ASSERT_EQ(target.sends().size(), 2u);
  EXPECT_EQ(target.sends()[0].subscription, kB);
  EXPECT_THAT(target.KeysSentTo(kB), ElementsAreArray(Numbered(0, 30)));
  EXPECT_THAT(target.KeysSentTo(kA), ElementsAreArray(Numbered(30, 10)));
  EXPECT_THAT(KeysOf(pending), ElementsAreArray(Numbered(40, 5)));
  EXPECT_EQ(dispatcher.AvailableDemand(), 0);
}

TEST(DemandDispatcherTest, BalancesOneEventAtATimeTowardTheLargerDemand) {
  DemandDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kA.value()));
  dispatcher.Subscribe(Member(kB.value()));
  target.Ask(dispatcher, kA, 10);
  target.Ask(dispatcher, kB, 30);

  for (int i = 0; i < 30; ++i) {
    EventBatch pending = MakeNumberedBatch("e", i, 1);
    dispatcher.Dispatch(pending, target);
    EXPECT_TRUE(pending.empty());
  }

  // B takes the first 20 (down to A's 10); from the tie on they alternate,
  // A first (earliest subscribed): A 5, B 20 + 5.
  EXPECT_EQ(target.ReceivedBy(kA), 5);
  EXPECT_EQ(target.ReceivedBy(kB), 25);
  EXPECT_THAT(target.KeysSentTo(kA), ElementsAre("e20", "e22", "e24", "e26", "e28"));
  EXPECT_EQ(dispatcher.AvailableDemand(), 10);
}

TEST(DemandDispatcherTest, TiesGoToTheEarliestSubscribed) {
  DemandDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kB.value()));
  dispatcher.Subscribe(Member(kA.value()));
  target.Ask(dispatcher, kA, 5);
  target.Ask(dispatcher, kB, 5);
  EventBatch pending = MakeNumberedBatch("e", 0, 3);

  dispatcher.Dispatch(pending, target);

  EXPECT_THAT(target.KeysSentTo(kB), ElementsAre("e0", "e1", "e2"));
}

TEST(DemandDispatcherTest, GroupsDoNotMatterOnlyDemand) {
  DemandDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kA.value(), /*group=*/0));
  dispatcher.Subscribe(Member(kB.value(), /*group=*/7));
  target.Ask(dispatcher, kA, 2);
  target.Ask(dispatcher, kB, 4);
  EventBatch pending = MakeNumberedBatch("e", 0, 6);

  dispatcher.Dispatch(pending, target);

  // Each event once, to one subscriber.
  EXPECT_THAT(target.KeysSentTo(kB), ElementsAreArray(Numbered(0, 4)));
  EXPECT_THAT(target.KeysSentTo(kA), ElementsAre("e4", "e5"));
  EXPECT_THAT(target.fanouts(), IsEmpty());
}

TEST(DemandDispatcherTest, CancelForgetsTheSubscriberAndItsDemand) {
  DemandDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kA.value()));
  dispatcher.Subscribe(Member(kB.value()));
  target.Ask(dispatcher, kA, 10);
  target.Ask(dispatcher, kB, 30);

  EventBatch returned = dispatcher.Cancel(kB);

  EXPECT_TRUE(returned.empty());
  EXPECT_EQ(dispatcher.AvailableDemand(), 10);
  EventBatch pending = MakeNumberedBatch("e", 0, 20);
  dispatcher.Dispatch(pending, target);
  EXPECT_THAT(target.KeysSentTo(kA), ElementsAreArray(Numbered(0, 10)));
  EXPECT_THAT(target.KeysSentTo(kB), IsEmpty());
  EXPECT_EQ(pending.size(), 10u);
  // Cancelling again is harmless.
  EXPECT_TRUE(dispatcher.Cancel(kB).empty());
}

TEST(DemandDispatcherTest, SentEventsOutliveThePendingBatch) {
  DemandDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kA.value()));
  dispatcher.Subscribe(Member(kB.value()));
  target.Ask(dispatcher, kA, 3);
  target.Ask(dispatcher, kB, 3);
  {
    auto pending = std::make_unique<EventBatch>(MakeNumberedBatch("e", 0, 8));
    dispatcher.Dispatch(*pending, target);
  }  // `pending` and its arena reference are gone; the sent batches keep it.

  EXPECT_THAT(target.KeysSentTo(kA), ElementsAre("e0", "e1", "e2"));
  EXPECT_THAT(target.ValuesSentTo(kB), ElementsAre("e3", "e4", "e5"));
}

TEST(DemandDispatcherTest, AskingAgainFromInsideSendIsSafe) {
  DemandDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kA.value()));
  dispatcher.Subscribe(Member(kB.value()));
  target.Ask(dispatcher, kA, 2);
  target.Ask(dispatcher, kB, 2);
  target.set_on_send(
      [&](SubscriptionId subscription, size_t) { target.Ask(dispatcher, subscription, 1); });
  EventBatch pending = MakeNumberedBatch("e", 0, 10);

  dispatcher.Dispatch(pending, target);

  EXPECT_EQ(target.total_received(), 4);
  EXPECT_EQ(dispatcher.AvailableDemand(), 2);  // one re-ask per send
  dispatcher.Dispatch(pending, target);
  EXPECT_EQ(target.total_received(), 6);
}

TEST(DemandDispatcherTest, FactoryMakesADemandDispatcher) {
  std::unique_ptr<Dispatcher> dispatcher = MakeDemandDispatcher();
  RecordingDispatchTarget target;
  dispatcher->Subscribe(Member(kA.value()));
  target.Ask(*dispatcher, kA, 1);
  EventBatch pending = MakeNumberedBatch("e", 0, 2);

  dispatcher->Dispatch(pending, target);

  EXPECT_THAT(target.KeysSentTo(kA), ElementsAre("e0"));
  EXPECT_EQ(dispatcher->held_events(), 0u);
}

}  // namespace
}  // namespace sluice
