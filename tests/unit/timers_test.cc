// tests/unit/timers_test.cc — the timer heap and the grid of daemon/timers.h, no I/O.
#include "daemon/timers.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

using namespace runwayd;

TEST(TimerGrid, NearStepsKeepTheirTime) {
  EXPECT_EQ(GridDue(1'000'003, 0, Grid::kUp), 1'000'003);
  EXPECT_EQ(GridDue(1'000'003, -5, Grid::kNearest), 1'000'003);  // a negative delay is now
  EXPECT_EQ(GridDue(1'000'003, kGridFromMs - 1, Grid::kUp), 1'000'003 + kGridFromMs - 1);
  EXPECT_EQ(GridDue(1'000'003, kGridFromMs - 1, Grid::kNearest), 1'000'003 + kGridFromMs - 1);
}

// kUp never runs a step early (backoffs, Retry-After, booked budget slots) and is at
// most one grid step late; kNearest is within half a step either way. Both land on
// the grid, so steps due in the same step share one wakeup.
TEST(TimerGrid, FarStepsLandOnTheGridUpOrNearest) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> now_d(0, 1'000'000'000), delay_d(kGridFromMs, 600'000);
  for (int i = 0; i < 100'000; ++i) {
    int64_t now = now_d(rng), delay = delay_d(rng), want = now + delay;
    int64_t up = GridDue(now, delay, Grid::kUp), near = GridDue(now, delay, Grid::kNearest);
    ASSERT_EQ(up % kGridMs, 0) << now << "+" << delay;
    ASSERT_EQ(near % kGridMs, 0) << now << "+" << delay;
    ASSERT_GE(up, want);
    ASSERT_LT(up - want, kGridMs);
    ASSERT_LE(near - want, kGridMs / 2);
    ASSERT_LE(want - near, kGridMs / 2);
    ASSERT_GT(near, now);  // never in the past
  }
  EXPECT_EQ(GridDue(1'000, kGridFromMs, Grid::kUp), 1'200);
  EXPECT_EQ(GridDue(1'001, kGridFromMs, Grid::kUp), 1'300);
  EXPECT_EQ(GridDue(1'049, kGridFromMs, Grid::kNearest), 1'200);
  EXPECT_EQ(GridDue(1'050, kGridFromMs, Grid::kNearest), 1'300);
}

// Steps due at scattered milliseconds within one grid step come due together.
TEST(TimerGrid, PollsWithinOneStepShareOneWakeup) {
  TimerQueue q;
  for (uint32_t i = 0; i < 100; ++i) q.Push(GridDue(10'000 + i % 40, 5'000 + i % 7, Grid::kNearest), i, 0);
  int64_t first = q.next_due();
  TimerQueue::Entry e;
  int n = 0;
  while (q.PopDue(first, &e)) ++n;
  EXPECT_EQ(n, 100);
  EXPECT_TRUE(q.empty());
}

TEST(TimerQueueTest, PopsInDueOrderAndFifoAmongEquals) {
  TimerQueue q;
  q.Push(30, 1, 0);
  q.Push(10, 2, 0);
  q.Push(30, 3, 0);
  q.Push(20, 4, 0);
  EXPECT_EQ(q.next_due(), 10);
  TimerQueue::Entry e;
  EXPECT_FALSE(q.PopDue(9, &e));
  std::vector<uint32_t> order;
  while (q.PopDue(100, &e)) order.push_back(e.slot);
  EXPECT_EQ(order, (std::vector<uint32_t>{2, 4, 1, 3}));
  EXPECT_EQ(q.next_due(), INT64_MAX);
}
