// tests/unit/poll_policy_test.cc — runway/poll_policy.h, rule by rule (measured
// against the official SDK's schedule in poll_policy_vs_sdk_test.cc).
#include "runway/poll_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace runwayd::runway {
namespace {

// ---------------------------------------------------------------- DurationModel

TEST(DurationModel, NothingKnownUntilObserved) {
  DurationModel m;
  int64_t lo = -1, mid = -1, hi = -1;
  EXPECT_FALSE(m.Expect("gen4_turbo", 5, &lo, &mid, &hi));
  m.Observe("gen4_turbo", 5, 20000);
  ASSERT_TRUE(m.Expect("gen4_turbo", 5, &lo, &mid, &hi));
  EXPECT_EQ(lo, 20000);
  EXPECT_EQ(mid, 20000);
  EXPECT_EQ(hi, 20000);
}

TEST(DurationModel, KeyedByModelAndDuration) {
  DurationModel m;
  m.Observe("gen4_turbo", 5, 20000);
  int64_t mid = 0;
  EXPECT_FALSE(m.Expect("gen4_turbo", 10, nullptr, &mid, nullptr));
  EXPECT_FALSE(m.Expect("gen4.5", 5, nullptr, &mid, nullptr));
  m.Observe("gen4_turbo", 10, 40000);
  ASSERT_TRUE(m.Expect("gen4_turbo", 10, nullptr, &mid, nullptr));
  EXPECT_EQ(mid, 40000);
  ASSERT_TRUE(m.Expect("gen4_turbo", 5, nullptr, &mid, nullptr));
  EXPECT_EQ(mid, 20000);
}

TEST(DurationModel, QuantilesOfTheRunTimes) {
  DurationModel m;
  // 1 s .. 200 s, in a scrambled order: the 5%, 50% and 95% quantiles by rank.
  for (int i = 0; i < 200; ++i) m.Observe("veo3", 8, 1000 * (1 + (i * 77) % 200));
  int64_t lo = 0, mid = 0, hi = 0;
  ASSERT_TRUE(m.Expect("veo3", 8, &lo, &mid, &hi));
  EXPECT_EQ(lo, 11000);   // rank round(0.05 * 199) = 10
  EXPECT_EQ(mid, 101000);  // rank round(0.5 * 199) = 100
  EXPECT_EQ(hi, 190000);  // rank round(0.95 * 199) = 189
}

TEST(DurationModel, OrderOfArrivalDoesNotMatter) {
  // A wave of tasks ends shortest first: the quantiles are those of the window,
  // whatever the order (a moving average lagged behind the last few here).
  DurationModel sorted, shuffled;
  for (int i = 0; i < 200; ++i) sorted.Observe("m", 5, 10000 + 100 * i);
  for (int i = 0; i < 200; ++i) shuffled.Observe("m", 5, 10000 + 100 * ((i * 77) % 200));
  int64_t a[3], b[3];
  ASSERT_TRUE(sorted.Expect("m", 5, &a[0], &a[1], &a[2]));
  ASSERT_TRUE(shuffled.Expect("m", 5, &b[0], &b[1], &b[2]));
  for (int k = 0; k < 3; ++k) EXPECT_EQ(a[k], b[k]) << k;
}

TEST(DurationModel, ForgetsRunTimesOlderThanTheWindow) {
  DurationModel m;
  for (size_t i = 0; i < DurationModel::kWindow; ++i) m.Observe("gen4.5", 5, 10000);
  int64_t lo = 0, hi = 0;
  ASSERT_TRUE(m.Expect("gen4.5", 5, &lo, nullptr, &hi));
  EXPECT_EQ(hi, 10000);
  // Runway slows down: once a window of slower runs has replaced the old ones,
  // nothing of the old ones is left.
  for (size_t i = 0; i < DurationModel::kWindow; ++i) m.Observe("gen4.5", 5, 30000);
  ASSERT_TRUE(m.Expect("gen4.5", 5, &lo, nullptr, &hi));
  EXPECT_EQ(lo, 30000);
  EXPECT_EQ(hi, 30000);
  // Halfway through the next change the quantiles span both.
  for (size_t i = 0; i < DurationModel::kWindow / 2; ++i) m.Observe("gen4.5", 5, 20000);
  ASSERT_TRUE(m.Expect("gen4.5", 5, &lo, nullptr, &hi));
  EXPECT_EQ(lo, 20000);
  EXPECT_EQ(hi, 30000);
}

TEST(DurationModel, BoundedNumberOfKeys) {
  DurationModel m;
  for (int i = 0; i < 10000; ++i) m.Observe("model" + std::to_string(i), 5, 1000);
  EXPECT_TRUE(m.Expect("model0", 5, nullptr, nullptr, nullptr));
  EXPECT_FALSE(m.Expect("model9999", 5, nullptr, nullptr, nullptr));  // the table stopped growing
  m.Observe("model0", 5, 3000);  // known keys still learn
  int64_t hi = 0;
  ASSERT_TRUE(m.Expect("model0", 5, nullptr, nullptr, &hi));
  EXPECT_EQ(hi, 3000);
}

TEST(DurationModel, IgnoresNonPositiveRunTimes) {
  DurationModel m;
  m.Observe("gen4_turbo", 5, 0);
  m.Observe("gen4_turbo", 5, -300);
  EXPECT_FALSE(m.Expect("gen4_turbo", 5, nullptr, nullptr, nullptr));
}

// ------------------------------------------------------------------ PollPacer

TEST(PollPacer, ASecondsWorthAtOnceThenOneSlotPerInterval) {
  PollPacer p;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(p.Reserve(5000, 10), 0) << i;  // 10/s: a burst of 10
  // The 11th, 12th ... wait for the slots after the burst, in order.
  EXPECT_EQ(p.Reserve(5000, 10), 100);
  EXPECT_EQ(p.Reserve(5000, 10), 200);
  EXPECT_EQ(p.Reserve(5050, 10), 250);  // asked later, still behind the earlier ones
}

TEST(PollPacer, EveryWaitIsBoundedByTheBacklog) {
  // 5,000 polls due within 10 ms at 500/s: the last waits about (5,000 - 500) / 500 s,
  // and no one waits longer than those before it asked.
  PollPacer p;
  int64_t prev_at = 0, max_wait = 0;
  for (int i = 0; i < 5000; ++i) {
    const int64_t now = 1'000'000 + i / 500;
    const int64_t at = now + p.Reserve(now, 500);
    EXPECT_GE(at, prev_at);
    prev_at = at;
    max_wait = std::max(max_wait, at - now);
  }
  EXPECT_NEAR(static_cast<double>(max_wait), 9000, 20);
}

TEST(PollPacer, IdleTimeRefillsTheBurstButDoesNotBank) {
  PollPacer p;
  for (int i = 0; i < 20; ++i) p.Reserve(0, 10);  // 10 at once, 10 booked over the next second
  // A minute later: one second's worth at once again, not a minute's worth.
  int at_once = 0;
  while (p.Reserve(60000, 10) == 0) ++at_once;
  EXPECT_EQ(at_once, 10);
}

TEST(PollPacer, NoBudgetNoWait) {
  PollPacer p;
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(p.Reserve(0, 0), 0);
  EXPECT_EQ(p.Reserve(0, std::nan("")), 0);
}

// ------------------------------------------------------------ single decisions

PollConfig Cfg() { return PollConfig{}; }  // 5 s min, 5 s first, 30 s throttled, 60 s max

// A gen4_turbo 5 s task whose create was just answered (no poll yet), as the daemon
// asks about it.
PollInput JustCreated() {
  PollInput in;
  in.model = "gen4_turbo";
  in.duration_s = 5;
  in.created_at_ms = 1'000'000;
  in.now_ms = 1'000'000;
  in.after_create = true;
  return in;
}

TEST(PollPolicy, FirstPollWithNothingKnownIsFirstPollMs) {
  PollInput in = JustCreated();
  PollConfig cfg = Cfg();
  cfg.first_poll_ms = 7000;
  EXPECT_EQ(NextPollDelayMs(in, DurationModel(), cfg), 7000);
}

// A first_poll_ms below min_interval_ms is honoured for the first poll only, with or
// without a learned run time; after any poll, min_interval_ms holds again.
TEST(PollPolicy, AShortFirstPollComesSoonerThanTheMinInterval) {
  PollInput in = JustCreated();
  PollConfig cfg = Cfg();
  EXPECT_EQ(NextPollDelayMs(in, DurationModel(), cfg), 5000);  // defaults: unchanged
  cfg.first_poll_ms = 1500;
  EXPECT_EQ(NextPollDelayMs(in, DurationModel(), cfg), 1500);
  DurationModel m;
  for (int i = 0; i < 50; ++i) m.Observe("gen4_turbo", 5, 1200);  // tasks learned to take 1.2 s
  const int64_t d = NextPollDelayMs(in, m, cfg);
  EXPECT_GE(d, 1500);  // not before first_poll_ms...
  EXPECT_LT(d, 5000);  // ...but aimed at the learned end, not held back to min_interval_ms
  EXPECT_EQ(NextPollDelayMs(in, m, Cfg()), 5000);  // by default, the min interval as before
  // The first poll found it still pending: the next look waits the min interval.
  in.after_create = false;
  in.prev_poll_ms = 0;
  in.now_ms = 1'000'000 + d;
  EXPECT_EQ(NextPollDelayMs(in, DurationModel(), cfg), 5000);
  EXPECT_EQ(NextPollDelayMs(in, m, cfg), 5000);
}

TEST(PollPolicy, GeometricWithoutKnowledgeAndCappedAtMax) {
  PollInput in;
  in.model = "m";
  in.created_at_ms = 0;
  PollConfig cfg = Cfg();
  int64_t prev_delay = 0;
  int64_t t = 0;
  for (int i = 0; i < 30; ++i) {
    in.now_ms = t;
    const int64_t d = NextPollDelayMs(in, DurationModel(), cfg);
    EXPECT_GE(d, cfg.min_interval_ms);
    EXPECT_LE(d, cfg.max_interval_ms);
    EXPECT_GE(d, prev_delay) << "poll " << i;  // intervals never shrink while nothing is learned
    prev_delay = d;
    t += d;
  }
  EXPECT_EQ(prev_delay, cfg.max_interval_ms);  // it grew all the way to the cap
}

TEST(PollPolicy, ThrottledIsPolledSlowly) {
  PollInput in;
  in.model = "gen4_turbo";
  in.status = TaskStatus::kThrottled;
  in.created_at_ms = 0;
  in.now_ms = 5000;
  EXPECT_EQ(NextPollDelayMs(in, DurationModel(), Cfg()), 30000);
  PollConfig cfg = Cfg();
  cfg.throttled_interval_ms = 90000;  // above max: clamped
  EXPECT_EQ(NextPollDelayMs(in, DurationModel(), cfg), cfg.max_interval_ms);
}

TEST(PollPolicy, AimsJustAfterTheFinishPredictedFromProgress) {
  // Running since 10 s, 40% done at 20 s, 20% at 15 s: rate 4%/s, 15 s left.
  PollInput in;
  in.model = "gen4_turbo";
  in.duration_s = 10;
  in.status = TaskStatus::kRunning;
  in.created_at_ms = 0;
  in.running_since_ms = 15000;
  in.prev_poll_ms = 15000;
  in.prev_progress = 0.2;
  in.progress = 0.4;
  in.now_ms = 20000;
  const int64_t d = NextPollDelayMs(in, DurationModel(), Cfg());
  EXPECT_GE(d, 10000);
  EXPECT_LE(d, 18000);
  // More progress at the same time means an earlier poll.
  in.progress = 0.7;
  EXPECT_LT(NextPollDelayMs(in, DurationModel(), Cfg()), d);
}

TEST(PollPolicy, APendingPollBeforeTheFirstRunningOneDatesTheStart) {
  // Half done at 40 s, first seen RUNNING now. Without an earlier poll the run may
  // have started at creation (45 s left at worst); a poll at 30 s that saw it
  // PENDING says it started after 25 s, so it runs twice as fast (15 s left at worst).
  PollInput in;
  in.model = "gen4_turbo";
  in.status = TaskStatus::kRunning;
  in.created_at_ms = 0;
  in.now_ms = 40000;
  in.running_since_ms = 40000;
  in.progress = 0.5;
  const int64_t unknown_start = NextPollDelayMs(in, DurationModel(), Cfg());
  in.prev_poll_ms = 30000;
  in.prev_progress = -1;
  const int64_t dated_start = NextPollDelayMs(in, DurationModel(), Cfg());
  EXPECT_LE(dated_start, 20000);
  EXPECT_GE(dated_start, 5000);
  EXPECT_GT(unknown_start, dated_start + 5000);
  EXPECT_LE(unknown_start, 45000);
}

TEST(PollPolicy, TwoReadingsFarApartPinTheFinish) {
  // 0.2 at 10 s, 0.6 at 50 s: 1% per 0.8..1.1 s (each reading may be up to one
  // 5 s update old), so 35..45 s remain. The next poll goes near that, not halfway.
  PollInput in;
  in.model = "gen4_turbo";
  in.status = TaskStatus::kRunning;
  in.created_at_ms = 0;
  in.running_since_ms = 10000;
  in.prev_poll_ms = 10000;
  in.prev_progress = 0.2;
  in.progress = 0.6;
  in.now_ms = 50000;
  const int64_t d = NextPollDelayMs(in, DurationModel(), Cfg());
  EXPECT_GE(d, 30000);
  EXPECT_LE(d, 50000);
}

TEST(PollPolicy, PastThePredictionPollsEveryMinInterval) {
  PollInput in;
  in.model = "gen4_turbo";
  in.status = TaskStatus::kRunning;
  in.created_at_ms = 0;
  in.running_since_ms = 5000;
  in.prev_poll_ms = 25000;
  in.prev_progress = 0.97;
  in.progress = 0.99;
  in.now_ms = 30000;
  EXPECT_EQ(NextPollDelayMs(in, DurationModel(), Cfg()), 5000);
  in.progress = 1.0;  // done but not yet SUCCEEDED
  EXPECT_EQ(NextPollDelayMs(in, DurationModel(), Cfg()), 5000);
}

TEST(PollPolicy, HistoryPlacesTheFirstLookBeforeTheLearnedRunTime) {
  DurationModel m;
  for (int i = 0; i < 50; ++i) m.Observe("veo3", 8, 60000);  // always 60 s: no spread
  PollInput in;
  in.model = "veo3";
  in.duration_s = 8;
  in.created_at_ms = 100000;
  in.now_ms = 100000;
  const int64_t d = NextPollDelayMs(in, m, Cfg());
  EXPECT_GE(d, 30000);  // not before half the learned time...
  EXPECT_LT(d, 60000);  // ...and before the learned time, to read progress
  // Another (model, duration) knows nothing: first_poll.
  in.duration_s = 4;
  EXPECT_EQ(NextPollDelayMs(in, m, Cfg()), 5000);
  // Later polls without progress move towards the end of the window, never back.
  in.duration_s = 8;
  int64_t t = 100000 + d, prev = 0;
  for (int i = 0; i < 20 && t < 100000 + 65000; ++i) {
    in.now_ms = t;
    const int64_t next = NextPollDelayMs(in, m, Cfg());
    EXPECT_GE(next, 5000);
    EXPECT_LE(t + next, 100000 + 65000 + 5000);  // within the window (+ one min interval)
    EXPECT_GT(t + next, prev);
    prev = t + next;
    t += next;
  }
  // Past the window: every min interval.
  in.now_ms = 100000 + 70000;
  EXPECT_EQ(NextPollDelayMs(in, m, Cfg()), 5000);
}

TEST(PollPolicy, SpreadWidensTheWindowUpToTheCap) {
  DurationModel tight, wide;
  for (int i = 0; i < 50; ++i) tight.Observe("gen4_turbo", 5, 40000);
  for (int i = 0; i < 50; ++i) wide.Observe("gen4_turbo", 5, i % 2 ? 30000 : 50000);
  PollConfig cfg = Cfg();
  cfg.min_interval_ms = 1000;  // so the minimum does not hide the difference
  PollInput in;
  in.model = "gen4_turbo";
  in.duration_s = 5;
  in.created_at_ms = 0;
  in.now_ms = 25000;  // a look at 25 s found it PENDING
  const int64_t t = NextPollDelayMs(in, tight, cfg), w = NextPollDelayMs(in, wide, cfg);
  EXPECT_EQ(t, 3200);  // a fifth of the window's 16 s (up to 41 s: 40 s + one 1 s tick)
  EXPECT_GT(w, t);
  // However wide the window, the next look comes at most 5 s after its early end,
  // so a task that ends there is seen within 5 s.
  EXPECT_EQ(w, 5000);
  for (int i = 0; i < 50; ++i) wide.Observe("gen4_turbo", 5, i % 2 ? 30000 : 300000);
  EXPECT_EQ(NextPollDelayMs(in, wide, cfg), 5000);
}

TEST(PollPolicy, ProgressOverridesAnInconsistentHistory) {
  DurationModel m;
  for (int i = 0; i < 50; ++i) m.Observe("gen4_turbo", 5, 20000);  // usually 20 s
  PollInput in;
  in.model = "gen4_turbo";
  in.duration_s = 5;
  in.status = TaskStatus::kRunning;
  in.created_at_ms = 0;
  in.prev_poll_ms = 20000;
  in.prev_progress = 0.2;
  in.running_since_ms = 10000;
  in.progress = 0.3;  // 10% in 20 s: this one needs minutes, not seconds
  in.now_ms = 40000;
  EXPECT_GE(NextPollDelayMs(in, m, Cfg()), 30000);
}

TEST(PollPolicy, TimeScaleShrinksEveryInterval) {
  PollConfig cfg = Cfg();
  cfg.time_scale = 0.05;
  PollInput in;
  in.model = "gen4_turbo";
  in.created_at_ms = 0;
  in.now_ms = 0;
  EXPECT_EQ(NextPollDelayMs(in, DurationModel(), cfg), 250);  // first_poll 5000 * 0.05
  in.status = TaskStatus::kThrottled;
  EXPECT_EQ(NextPollDelayMs(in, DurationModel(), cfg), 1500);
  in.status = TaskStatus::kRunning;
  in.progress = 0.999;
  in.prev_progress = 0.99;
  in.prev_poll_ms = 100;
  in.running_since_ms = 100;
  in.now_ms = 400;
  EXPECT_EQ(NextPollDelayMs(in, DurationModel(), cfg), 250);  // min interval 5000 * 0.05
}

TEST(PollPolicy, NeverBelowMinOrAboveMaxWhateverTheInput) {
  PollConfig cfg = Cfg();
  DurationModel m;
  m.Observe("gen4_turbo", 5, 3000);
  const TaskStatus statuses[] = {TaskStatus::kPending, TaskStatus::kThrottled, TaskStatus::kRunning,
                                 TaskStatus::kUnknown, TaskStatus::kSucceeded};
  const double progresses[] = {-1, 0, 1e-9, 0.01, 0.5, 0.999, 1, 2};
  for (TaskStatus s : statuses) {
    for (double p : progresses) {
      for (int64_t now : {int64_t{0}, int64_t{1000}, int64_t{30000}, int64_t{10'000'000}}) {
        for (double pp : {-1.0, 0.0, 0.3, 0.9}) {
          PollInput in;
          in.model = "gen4_turbo";
          in.duration_s = 5;
          in.status = s;
          in.progress = p;
          in.prev_progress = pp;
          in.prev_poll_ms = now > 0 ? now - 1 : 0;
          in.running_since_ms = now > 0 ? now / 2 : 0;
          in.created_at_ms = 0;
          in.now_ms = now;
          const int64_t d = NextPollDelayMs(in, m, cfg);
          EXPECT_GE(d, cfg.min_interval_ms);
          EXPECT_LE(d, cfg.max_interval_ms);
        }
      }
    }
  }
}

}  // namespace
}  // namespace runwayd::runway
