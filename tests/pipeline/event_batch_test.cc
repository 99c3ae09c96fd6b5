// EventBatch splitting and moving: TakeFront() hands out chunks in order
// without shifting what is left each time (a 1M-event batch split for 10,000
// subscribers must not cost 10,000 copies of the rest), and a moved-from batch
// is empty.
#include "pipeline/event_batch.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

EventBatch Numbered(int count) {
  EventBatch batch;
  for (int i = 0; i < count; ++i) batch.Append({.value = absl::StrCat("v", i)});
  return batch;
}

TEST(EventBatchTest, TakeFrontHandsOutChunksInOrderUntilEmpty) {
  EventBatch batch = Numbered(10'000);
  int next = 0;
  while (!batch.empty()) {
    const size_t left = batch.size();
    EventBatch chunk = batch.TakeFront(std::min<size_t>(7, left));
    ASSERT_EQ(batch.size(), left - chunk.size());
    for (const Event& event : chunk) ASSERT_EQ(event.value(), absl::StrCat("v", next++));
    // What is left still reads right, from its first event.
    if (!batch.empty()) {
      ASSERT_EQ(batch[0].value(), absl::StrCat("v", next));
      ASSERT_EQ(batch.events().front().value(), absl::StrCat("v", next));
    }
  }
  EXPECT_EQ(next, 10'000);
}

TEST(EventBatchTest, TakeBackAndAppendAfterTakeFrontKeepTheRightEvents) {
  EventBatch batch = Numbered(3000);
  EventBatch front = batch.TakeFront(2000);  // past the compaction threshold
  EventBatch back = batch.TakeBack(10);
  ASSERT_EQ(batch.size(), 990u);
  EXPECT_EQ(batch[0].value(), "v2000");
  EXPECT_EQ(batch[989].value(), "v2989");
  EXPECT_EQ(back[0].value(), "v2990");
  EXPECT_EQ(front[1999].value(), "v1999");
  batch.Append({.value = "new"});
  EXPECT_EQ(batch.size(), 991u);
  EXPECT_EQ(batch[990].value(), "new");
  batch.set_attempts(0, 3);
  EXPECT_EQ(batch[0].attempts(), 3u);
  EXPECT_EQ(batch.payload_bytes(), 990u * 5 + 3);
}

TEST(EventBatchTest, AMovedFromBatchIsEmptyAfterTakeFront) {
  EventBatch batch = Numbered(100);
  EventBatch chunk = batch.TakeFront(40);
  EventBatch moved = std::move(batch);
  EXPECT_EQ(moved.size(), 60u);
  EXPECT_EQ(moved[0].value(), "v40");
  EXPECT_TRUE(batch.empty());  // NOLINT(bugprone-use-after-move): the guarantee under test
  EXPECT_EQ(batch.size(), 0u);
  EventBatch assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.size(), 60u);
  EXPECT_TRUE(moved.empty());  // NOLINT(bugprone-use-after-move)
}

}  // namespace
}  // namespace sluice
