#include "pipeline/dispatchers/partition_dispatcher.h"

#include <algorithm>
#include <map>
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
using ::sluice::testing::MakeNumberedBatch;
using ::sluice::testing::Member;
using ::sluice::testing::RecordingDispatchTarget;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::StartsWith;

const SubscriptionId kA(1);  // index 0 of 2
const SubscriptionId kB(2);  // index 1 of 2

// The first `count` keys "key-<i>" whose partition among `partitions` is
// `partition`.
std::vector<std::string> KeysInPartition(uint32_t partition, uint32_t partitions, int count) {
  std::vector<std::string> keys;
  for (int i = 0; static_cast<int>(keys.size()) < count; ++i) {
    std::string key = absl::StrCat("key-", i);
    if (StablePartition(key, partitions) == partition) keys.push_back(std::move(key));
  }
  return keys;
}

// Events with the given keys; values are "<key>#<sequence number>".
EventBatch MakeSequencedBatch(const std::vector<std::string>& keys, int first_sequence = 0) {
  EventBatch batch;
  int sequence = first_sequence;
  for (const std::string& key : keys) {
    const std::string value = absl::StrCat(key, "#", sequence++);
    EventFields fields;
    fields.key = key;
    fields.value = value;
    batch.Append(fields);
  }
  return batch;
}

// Two members A (index 0) and B (index 1) of group 0.
void SubscribeAAndB(PartitionDispatcher& dispatcher) {
  dispatcher.Subscribe(Member(kA.value(), 0, 0, 2));
  dispatcher.Subscribe(Member(kB.value(), 0, 1, 2));
}

TEST(PartitionDispatcherTest, StablePartitionIsXxh3OfTheKeyModuloPartitions) {
  // Computed once with XXH3_64bits(key, len) (seed 0): these must never
  // change, or a restart would send a key's events to another instance.
  // XXH3_64bits("") = 0x2d06800538d394c2, the published test vector.
  EXPECT_EQ(StablePartition("", 4), 2u);
  EXPECT_EQ(StablePartition("a", 16), 15u);
  EXPECT_EQ(StablePartition("key-0", 4), 0u);
  EXPECT_EQ(StablePartition("key-1", 4), 1u);
  EXPECT_EQ(StablePartition("key-0", 7), 5u);
  EXPECT_EQ(StablePartition("key-1023", 16), 12u);
  EXPECT_EQ(StablePartition("user-7", 4), 2u);
  EXPECT_EQ(StablePartition("user-7", 7), 4u);
  EXPECT_EQ(StablePartition("order-42", 16), 12u);
  EXPECT_EQ(StablePartition("order-42", 1), 0u);
}

TEST(PartitionDispatcherTest, SendsEachEventToTheMemberOfItsKeysPartition) {
  PartitionDispatcher dispatcher;
  RecordingDispatchTarget target;
  for (uint32_t i = 0; i < 4; ++i) {
    dispatcher.Subscribe(Member(100 + i, 0, i, 4));
    target.Ask(dispatcher, SubscriptionId(100 + i), 1000);
  }
  EventBatch pending = MakeNumberedBatch("key-", 0, 200);
  std::vector<std::vector<std::string>> expected(4);
  for (const Event& event : pending) {
    expected[StablePartition(event.key(), 4)].emplace_back(event.key());
  }

  dispatcher.Dispatch(pending, target);

  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(target.total_received(), 200);
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_FALSE(expected[i].empty());
    EXPECT_THAT(target.KeysSentTo(SubscriptionId(100 + i)), ElementsAreArray(expected[i]))
        << "member " << i;
  }
  EXPECT_THAT(target.fanouts(), IsEmpty());  // one group
  EXPECT_EQ(target.sends().size(), 4u);      // one batch per member
  EXPECT_EQ(dispatcher.held_events(), 0u);
}

TEST(PartitionDispatcherTest, HoldsEventsForAMemberWithoutDemandAndSendsThemWhenItAsks) {
  // The worked example of the class comment.
  PartitionDispatcher dispatcher;
  RecordingDispatchTarget target;
  SubscribeAAndB(dispatcher);
  target.Ask(dispatcher, kA, 10);
  target.Ask(dispatcher, kB, 10);
  EXPECT_EQ(dispatcher.AvailableDemand(), 20);
  const std::vector<std::string> keys_for_a = KeysInPartition(0, 2, 18);
  const std::vector<std::string> keys_for_b = KeysInPartition(1, 2, 5);
  std::vector<std::string> keys;  // A A A B A A A B ... : 15 for A, 5 for B
  for (int i = 0; i < 15; ++i) {
    keys.push_back(keys_for_a[i]);
    if (i % 3 == 2) keys.push_back(keys_for_b[i / 3]);
  }
  {
    auto pending = std::make_unique<EventBatch>(MakeSequencedBatch(keys));
    dispatcher.Dispatch(*pending, target);
    EXPECT_TRUE(pending->empty());
  }  // Held events must keep their memory alive on their own.

  EXPECT_THAT(target.KeysSentTo(kA), ElementsAreArray(keys_for_a.begin(), keys_for_a.begin() + 10));
  EXPECT_THAT(target.KeysSentTo(kB), ElementsAreArray(keys_for_b));
  EXPECT_EQ(dispatcher.held_events(), 5u);
  // A (0 - 5) + B (5 - 0): B's unused demand does not let more in.
  EXPECT_EQ(dispatcher.AvailableDemand(), 0);
  EventBatch more = MakeSequencedBatch({keys_for_b[0]}, 100);
  dispatcher.Dispatch(more, target);
  EXPECT_EQ(more.size(), 1u);
  EXPECT_EQ(target.ReceivedBy(kB), 5);

  // A asks: its held events go first, then new events for it, in one batch.
  target.Ask(dispatcher, kA, 10);
  {
    // The batch sent to A starts with held events; it must retain this
    // batch's memory too.
    auto pending =
        std::make_unique<EventBatch>(MakeSequencedBatch({keys_for_a[15], keys_for_a[16]}, 200));
    dispatcher.Dispatch(*pending, target);
    EXPECT_TRUE(pending->empty());
  }

  EXPECT_EQ(dispatcher.held_events(), 0u);
  std::vector<std::string> expected_for_a(keys_for_a.begin(), keys_for_a.begin() + 17);
  EXPECT_THAT(target.KeysSentTo(kA), ElementsAreArray(expected_for_a));
  EXPECT_EQ(target.sends().back().subscription, kA);
  EXPECT_EQ(target.sends().back().events.size(), 7u);
  EXPECT_EQ(target.ValuesSentTo(kA).back(), keys_for_a[16] + "#201");
  EXPECT_EQ(dispatcher.AvailableDemand(), 8);  // A (10 - 7) + B (5 - 0)
}

TEST(PartitionDispatcherTest, HeldEventsKeepTheirMemoryAfterThePendingBatchIsGone) {
  PartitionDispatcher dispatcher;
  RecordingDispatchTarget target;
  SubscribeAAndB(dispatcher);
  target.Ask(dispatcher, kB, 6);  // A asks nothing yet
  const std::vector<std::string> keys_for_a = KeysInPartition(0, 2, 6);
  {
    // Every event is held: nothing sent retains this batch's memory.
    auto pending = std::make_unique<EventBatch>(MakeSequencedBatch(keys_for_a));
    dispatcher.Dispatch(*pending, target);
    ASSERT_EQ(dispatcher.held_events(), 6u);
  }

  target.Ask(dispatcher, kA, 4);
  EventBatch nothing_new;
  dispatcher.Dispatch(nothing_new, target);
  EventBatch returned = dispatcher.Cancel(kA);

  EXPECT_THAT(target.ValuesSentTo(kA), ElementsAre(keys_for_a[0] + "#0", keys_for_a[1] + "#1",
                                                   keys_for_a[2] + "#2", keys_for_a[3] + "#3"));
  ASSERT_EQ(returned.size(), 2u);
  EXPECT_EQ(returned[0].value(), keys_for_a[4] + "#4");
  EXPECT_EQ(returned[1].value(), keys_for_a[5] + "#5");
  EXPECT_EQ(dispatcher.held_events(), 0u);
}

TEST(PartitionDispatcherTest, HeldEventsStayBoundedByDemandWhenAPartitionStalls) {
  PartitionDispatcher dispatcher;
  RecordingDispatchTarget target;
  SubscribeAAndB(dispatcher);
  target.Ask(dispatcher, kA, 10);
  target.Ask(dispatcher, kB, 10);
  // B asks again for everything it gets; A never asks again.
  target.set_on_send([&](SubscriptionId subscription, size_t events) {
    if (subscription == kB) target.Ask(dispatcher, kB, static_cast<int64_t>(events));
  });
  // Nine events for A, then one for B, 100 times.
  const std::vector<std::string> keys_for_a = KeysInPartition(0, 2, 900);
  const std::vector<std::string> keys_for_b = KeysInPartition(1, 2, 100);
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) {
    keys.insert(keys.end(), keys_for_a.begin() + 9 * i, keys_for_a.begin() + 9 * (i + 1));
    keys.push_back(keys_for_b[i]);
  }
  EventBatch pending = MakeSequencedBatch(keys);

  for (int round = 0; round < 50; ++round) {
    dispatcher.Dispatch(pending, target);
    // Never more than the 20 the two members had asked for at a time.
    ASSERT_LE(dispatcher.held_events(), 20u);
  }

  // A was sent its 10 and 10 more wait for it; B's unused demand (10) does
  // not pull in more: the stalled partition holds the producer back.
  EXPECT_EQ(target.ReceivedBy(kA), 10);
  EXPECT_EQ(dispatcher.held_events(), 10u);
  EXPECT_EQ(dispatcher.AvailableDemand(), 0);
  EXPECT_EQ(pending.size(), 1000u - 20u - static_cast<size_t>(target.ReceivedBy(kB)));
  EXPECT_GT(pending.size(), 900u);
}

TEST(PartitionDispatcherTest, KeepsPerKeyOrderWithSmallInterleavedDemand) {
  PartitionDispatcher dispatcher;
  RecordingDispatchTarget target;
  constexpr uint32_t kMembers = 3;
  for (uint32_t i = 0; i < kMembers; ++i) dispatcher.Subscribe(Member(10 + i, 0, i, kMembers));
  // 12 keys, 20 events each, round-robin: key-0#0, key-1#1, ..., key-0#12, ...
  std::vector<std::string> keys;
  for (int round = 0; round < 20; ++round) {
    for (int k = 0; k < 12; ++k) keys.push_back(absl::StrCat("key-", k));
  }
  EventBatch pending = MakeSequencedBatch(keys);

  // Members ask a few at a time, unevenly, until everything is through.
  for (int step = 0; target.total_received() < 240 && step < 1000; ++step) {
    const uint32_t member = static_cast<uint32_t>(step) % kMembers;
    target.Ask(dispatcher, SubscriptionId(10 + member), 1 + step % 4);
    dispatcher.Dispatch(pending, target);
  }

  ASSERT_EQ(target.total_received(), 240);
  std::map<std::string, int> last_sequence;
  for (uint32_t i = 0; i < kMembers; ++i) {
    for (const std::string& value : target.ValuesSentTo(SubscriptionId(10 + i))) {
      const size_t hash_mark = value.find('#');
      const std::string key = value.substr(0, hash_mark);
      const int sequence = std::stoi(value.substr(hash_mark + 1));
      EXPECT_EQ(StablePartition(key, kMembers), i) << key;
      const auto [it, first] = last_sequence.emplace(key, sequence);
      if (!first) {
        EXPECT_LT(it->second, sequence) << "out of order for " << key;
        it->second = sequence;
      }
    }
  }
  EXPECT_EQ(last_sequence.size(), 12u);
  EXPECT_EQ(dispatcher.held_events(), 0u);
}

TEST(PartitionDispatcherTest, PartitionKeyFunctionChoosesWhatIsHashed) {
  PartitionDispatcher dispatcher([](const Event& event) { return event.value(); });
  RecordingDispatchTarget target;
  SubscribeAAndB(dispatcher);
  target.Ask(dispatcher, kA, 100);
  target.Ask(dispatcher, kB, 100);
  // Keys differ; values repeat "user-7" / "order-42".
  EventBatch pending;
  for (int i = 0; i < 10; ++i) {
    const std::string key = absl::StrCat("k", i);
    EventFields fields;
    fields.key = key;
    fields.value = (i % 2 == 0) ? "user-7" : "order-42";
    pending.Append(fields);
  }

  dispatcher.Dispatch(pending, target);

  const SubscriptionId user_member = StablePartition("user-7", 2) == 0 ? kA : kB;
  const SubscriptionId order_member = StablePartition("order-42", 2) == 0 ? kA : kB;
  std::vector<std::string> user_values = target.ValuesSentTo(user_member);
  std::vector<std::string> order_values = target.ValuesSentTo(order_member);
  EXPECT_EQ(std::count(user_values.begin(), user_values.end(), "user-7"), 5);
  EXPECT_EQ(std::count(order_values.begin(), order_values.end(), "order-42"), 5);
}

TEST(PartitionDispatcherTest, SeveralGroupsEachGetEveryEventAfterFanout) {
  PartitionDispatcher dispatcher;
  RecordingDispatchTarget target;
  // Group 0 has 2 members (ids 1, 2), group 1 has 3 (ids 11, 12, 13).
  for (uint32_t i = 0; i < 2; ++i) dispatcher.Subscribe(Member(1 + i, 0, i, 2));
  for (uint32_t i = 0; i < 3; ++i) dispatcher.Subscribe(Member(11 + i, 1, i, 3));
  for (uint32_t id : {1u, 2u, 11u, 12u, 13u}) target.Ask(dispatcher, SubscriptionId(id), 100);
  EventBatch pending = MakeNumberedBatch("key-", 0, 30);
  std::map<uint32_t, std::vector<std::string>> expected_keys;
  for (const Event& event : pending) {
    expected_keys[1 + StablePartition(event.key(), 2)].emplace_back(event.key());
    expected_keys[11 + StablePartition(event.key(), 3)].emplace_back(event.key());
  }

  dispatcher.Dispatch(pending, target);

  for (const auto& [id, keys] : expected_keys) {
    EXPECT_THAT(target.KeysSentTo(SubscriptionId(id)), ElementsAreArray(keys)) << id;
  }
  EXPECT_EQ(target.total_received(), 60);
  ASSERT_EQ(target.fanouts().size(), 30u);
  for (const auto& fanout : target.fanouts()) EXPECT_EQ(fanout.copies, 2u);
  // All Fanout() calls come before the first send.
  for (size_t i = 0; i < 30; ++i) EXPECT_THAT(target.calls()[i], StartsWith("fanout:"));
}

TEST(PartitionDispatcherTest, SeveralGroupsMoveAtThePaceOfTheSlowest) {
  PartitionDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(1, 0));
  dispatcher.Subscribe(Member(2, 1));
  target.Ask(dispatcher, SubscriptionId(1), 100);
  target.Ask(dispatcher, SubscriptionId(2), 5);
  EXPECT_EQ(dispatcher.AvailableDemand(), 5);
  EventBatch pending = MakeNumberedBatch("key-", 0, 50);

  dispatcher.Dispatch(pending, target);

  EXPECT_EQ(target.ReceivedBy(SubscriptionId(1)), 5);
  EXPECT_EQ(target.ReceivedBy(SubscriptionId(2)), 5);
  EXPECT_EQ(pending.size(), 45u);
  EXPECT_EQ(dispatcher.AvailableDemand(), 0);
  EXPECT_EQ(dispatcher.held_events(), 0u);
}

TEST(PartitionDispatcherTest, CancelReturnsOnlyWhatWasHeldForThatMember) {
  PartitionDispatcher dispatcher;
  RecordingDispatchTarget target;
  SubscribeAAndB(dispatcher);
  target.Ask(dispatcher, kA, 2);
  target.Ask(dispatcher, kB, 10);
  const std::vector<std::string> keys_for_a = KeysInPartition(0, 2, 5);
  EventBatch pending = MakeSequencedBatch(keys_for_a);
  dispatcher.Dispatch(pending, target);
  ASSERT_EQ(dispatcher.held_events(), 3u);

  EventBatch returned = dispatcher.Cancel(kA);

  EXPECT_THAT(KeysOf(returned), ElementsAre(keys_for_a[2], keys_for_a[3], keys_for_a[4]));
  EXPECT_EQ(dispatcher.held_events(), 0u);
  EXPECT_EQ(dispatcher.AvailableDemand(), 10);  // B's
  EXPECT_TRUE(dispatcher.Cancel(kA).empty());
}

TEST(PartitionDispatcherTest, EventsForAVacantSlotGoToItsNextMember) {
  PartitionDispatcher dispatcher;
  RecordingDispatchTarget target;
  SubscribeAAndB(dispatcher);
  target.Ask(dispatcher, kA, 1);
  target.Ask(dispatcher, kB, 10);
  EXPECT_TRUE(dispatcher.Cancel(kA).empty());
  const std::vector<std::string> keys_for_a = KeysInPartition(0, 2, 3);
  const std::vector<std::string> keys_for_b = KeysInPartition(1, 2, 2);
  EventBatch pending =
      MakeSequencedBatch({keys_for_a[0], keys_for_b[0], keys_for_a[1], keys_for_b[1]});

  dispatcher.Dispatch(pending, target);

  EXPECT_THAT(target.KeysSentTo(kB), ElementsAre(keys_for_b[0], keys_for_b[1]));
  EXPECT_EQ(dispatcher.held_events(), 2u);
  EXPECT_EQ(dispatcher.AvailableDemand(), 6);  // B (8 - 0) + vacant (0 - 2)

  // A restarted instance takes the slot and gets what waited, in order.
  const SubscriptionId restarted(3);
  dispatcher.Subscribe(Member(restarted.value(), 0, 0, 2));
  target.Ask(dispatcher, restarted, 5);
  EventBatch more = MakeSequencedBatch({keys_for_a[2]});
  dispatcher.Dispatch(more, target);

  EXPECT_THAT(target.KeysSentTo(restarted),
              ElementsAre(keys_for_a[0], keys_for_a[1], keys_for_a[2]));
  EXPECT_EQ(dispatcher.held_events(), 0u);
}

TEST(PartitionDispatcherTest, LastMemberCancelReturnsWhatWaitedForVacantSlots) {
  PartitionDispatcher dispatcher;
  RecordingDispatchTarget target;
  dispatcher.Subscribe(Member(kA.value(), 0, 0, 2));  // slot 1 never filled
  target.Ask(dispatcher, kA, 3);
  const std::vector<std::string> keys_for_b = KeysInPartition(1, 2, 5);
  EventBatch pending = MakeSequencedBatch(keys_for_b);

  dispatcher.Dispatch(pending, target);
  EXPECT_EQ(dispatcher.held_events(), 3u);  // bounded by A's 3
  EXPECT_EQ(pending.size(), 2u);

  EventBatch returned = dispatcher.Cancel(kA);

  EXPECT_THAT(KeysOf(returned), ElementsAre(keys_for_b[0], keys_for_b[1], keys_for_b[2]));
  EXPECT_EQ(dispatcher.held_events(), 0u);
  EXPECT_EQ(dispatcher.AvailableDemand(), 0);
}

TEST(PartitionDispatcherTest, TakesNothingWithoutSubscribers) {
  PartitionDispatcher dispatcher;
  RecordingDispatchTarget target;
  EventBatch pending = MakeNumberedBatch("key-", 0, 5);

  dispatcher.Dispatch(pending, target);

  EXPECT_EQ(pending.size(), 5u);
  EXPECT_EQ(dispatcher.AvailableDemand(), 0);
  EXPECT_EQ(dispatcher.held_events(), 0u);
  EXPECT_THAT(target.calls(), IsEmpty());
}

TEST(PartitionDispatcherTest, FactoryMakesAPartitionDispatcher) {
  std::unique_ptr<Dispatcher> dispatcher =
      MakePartitionDispatcher([](const Event& event) { return event.value(); });
  RecordingDispatchTarget target;
  dispatcher->Subscribe(Member(kA.value(), 0, 0, 2));
  dispatcher->Subscribe(Member(kB.value(), 0, 1, 2));
  target.Ask(*dispatcher, kA, 10);
  target.Ask(*dispatcher, kB, 10);
  EventBatch pending;
  EventFields fields;
  fields.key = "ignored";
  fields.value = "user-7";
  pending.Append(fields);

  dispatcher->Dispatch(pending, target);

  const SubscriptionId expected = StablePartition("user-7", 2) == 0 ? kA : kB;
  EXPECT_THAT(target.KeysSentTo(expected), ElementsAre("ignored"));
}

}  // namespace
}  // namespace sluice
