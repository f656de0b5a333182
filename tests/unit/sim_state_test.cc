// Unit tests of runway-sim's task model (sim/state.h) with a hand-driven clock.
#include <gtest/gtest.h>

#include "ledger/pricing.h"
#include "sim/config.h"
#include "sim/state.h"

namespace runwayd::sim {
namespace {

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kT0 = 1'700'000'000 * kSecond;

class SimStateTest : public ::testing::Test {
 protected:
  SimStateTest() {
    AccountConfig a;
    a.name = "main";
    a.key = "key_main";
    a.balance = 1000;
    a.limits["gen4_turbo"] = ModelLimits{2, 5};
    AccountConfig b;
    b.name = "other";
    b.key = "key_other";
    b.balance = 1000;
    config_.accounts = {a, b};
    config_.task.pending_s = 1;
    config_.task.timing = {20, 0};  // no jitter: exact times
    config_.task.update_s = 5;
  }

  State& Make() {
    state_ = std::make_unique<State>(config_, ledger::PriceTable::Defaults(), [this] { return now_; });
    return *state_;
  }

  static BodyFacts Facts(std::string model = "gen4_turbo", double duration = 5) {
    BodyFacts f;
    f.model = std::move(model);
    f.duration_s = duration;
    f.has_duration = true;
    f.ratio = "1280:720";
    return f;
  }

  const Task* Create(uint32_t account, std::string_view prompt = "", BodyFacts facts = Facts()) {
    CreateResult r = state_->Create(account, "image_to_video", facts, ParseHooks(prompt));
    EXPECT_EQ(r.kind, CreateResult::Kind::kCreated);
    return r.task;
  }

  Status StatusOf(const std::string& id, uint32_t account = 0) {
    Status s{};
    EXPECT_NE(state_->Poll(account, id, &s), nullptr) << id;
    return s;
  }

  SimConfig config_;
  int64_t now_ = kT0;
  std::unique_ptr<State> state_;
};

TEST_F(SimStateTest, HooksAreReadFromThePrompt) {
  Hooks h = ParseHooks("a cat sim:fail=SAFETY.INPUT.TEXT sim:secs=2.5 walks");
  EXPECT_TRUE(h.fail);
  EXPECT_EQ(h.failure_code, "SAFETY.INPUT.TEXT");
  EXPECT_DOUBLE_EQ(*h.run_s, 2.5);
  Hooks none = ParseHooks("sim:fail=none");
  EXPECT_TRUE(none.fail);
  EXPECT_FALSE(none.failure_code.has_value());
  EXPECT_FALSE(ParseHooks("just a prompt").fail);
}

// sim:gone_gets=N: the first N GETs of a live task are 404s (counted), then it answers.
TEST_F(SimStateTest, GoneGetsAnswer404ThenTheTask) {
  State& s = Make();
  const std::string id = Create(0, "sim:secs=2 sim:gone_gets=2")->id;
  Status st{};
  EXPECT_EQ(s.Poll(0, id, &st), nullptr);
  EXPECT_EQ(s.Poll(0, id, &st), nullptr);
  const Task* t = s.Poll(0, id, &st);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->gets, 3u);
  EXPECT_EQ(ParseHooks("sim:gone_gets=x").gone_gets, 0u);
}

TEST_F(SimStateTest, LifecycleIsAFunctionOfTime) {
  State& s = Make();
  const std::string id = Create(0, "sim:secs=20")->id;
  EXPECT_EQ(StatusOf(id), Status::kPending);
  now_ += kSecond + 7 * kSecond;  // 7 s into the run: progress quantised to 5 s
  Status st{};
  const Task* t = s.Poll(0, id, &st);
  EXPECT_EQ(st, Status::kRunning);
  EXPECT_DOUBLE_EQ(s.ProgressAt(*t, now_), 5.0 / 20.0);
  now_ = kT0 + 21 * kSecond;
  EXPECT_EQ(StatusOf(id), Status::kSucceeded);
  EXPECT_EQ(s.tasks()[0].Cost(), s.tasks()[0].estimated);
}

TEST_F(SimStateTest, ChargesAtCreationAndRefundsUnchargedFailures) {
  State& s = Make();
  const int64_t cost = *ledger::PriceTable::Defaults().Cost(Facts());
  ASSERT_EQ(cost, 25);
  const std::string internal = Create(0, "sim:fail=INTERNAL sim:secs=1")->id;
  const std::string none = Create(0, "sim:fail=none sim:secs=1")->id;
  const std::string safety = Create(1, "sim:fail=SAFETY.INPUT.TEXT sim:secs=1")->id;
  const std::string ok = Create(1, "sim:secs=1")->id;
  EXPECT_EQ(s.accounts()[0].balance, 1000 - 2 * cost);
  EXPECT_EQ(s.accounts()[1].balance, 1000 - 2 * cost);

  now_ += 3 * kSecond;
  s.AdvanceAll();
  EXPECT_EQ(s.accounts()[0].balance, 1000);             // both uncharged: refunded
  EXPECT_EQ(s.accounts()[1].balance, 1000 - 2 * cost);  // SAFETY costs like success
  EXPECT_EQ(StatusOf(internal), Status::kFailed);
  EXPECT_EQ(StatusOf(none), Status::kFailed);
  EXPECT_EQ(StatusOf(safety, 1), Status::kFailed);
  EXPECT_EQ(StatusOf(ok, 1), Status::kSucceeded);
  EXPECT_EQ(s.tasks()[0].Cost(), 0);
  EXPECT_FALSE(s.tasks()[1].failure_code.has_value());
  EXPECT_EQ(s.tasks()[2].Cost(), cost);
  EXPECT_TRUE(IsChargedFailure(std::string("INTERNAL.BAD_OUTPUT.CODE01")));
  EXPECT_TRUE(IsChargedFailure(std::string("INPUT_PREPROCESSING.SAFETY.TEXT")));
  EXPECT_FALSE(IsChargedFailure(std::string("THIRD_PARTY.UNAVAILABLE")));
  EXPECT_FALSE(IsChargedFailure(std::string("ASSET.INVALID")));
  EXPECT_FALSE(IsChargedFailure(std::nullopt));
}

TEST_F(SimStateTest, ThrottlesBeyondMaxConcurrentInSubmissionOrder) {
  State& s = Make();
  // Ends: t1 at 11 s; t3 starts then and ends at 22; t2 ends at 31; t4 starts at 22.
  const std::string t1 = Create(0, "sim:secs=10")->id;
  const std::string t2 = Create(0, "sim:secs=30")->id;
  const std::string t3 = Create(0, "sim:secs=10")->id;
  const std::string t4 = Create(0, "sim:secs=10")->id;
  EXPECT_EQ(s.throttled_tasks(), 2);
  EXPECT_EQ(StatusOf(t3), Status::kThrottled);
  EXPECT_EQ(StatusOf(t4), Status::kThrottled);

  // Nobody looks until 40 s: the history must still be the one of a ticking server.
  now_ = kT0 + 40 * kSecond;
  EXPECT_EQ(StatusOf(t4), Status::kSucceeded);
  EXPECT_EQ(s.tasks()[2].start_us, kT0 + 11 * kSecond);
  EXPECT_EQ(s.tasks()[3].start_us, kT0 + 22 * kSecond);
  EXPECT_EQ(s.tasks()[3].end_us, kT0 + 33 * kSecond);
  EXPECT_TRUE(s.tasks()[3].ever_throttled);
  EXPECT_FALSE(s.tasks()[1].ever_throttled);
  const Lane& lane = s.lanes()[s.accounts()[0].lanes.at("gen4_turbo")];
  EXPECT_EQ(lane.max_concurrency_seen, 2u);
  EXPECT_EQ(lane.InProgress(), 0u);
  (void)t1;
  (void)t2;
}

TEST_F(SimStateTest, UnlimitedModelsNeverThrottle) {
  State& s = Make();
  for (int i = 0; i < 10; ++i) Create(0, "", Facts("gen4.5", 5));
  EXPECT_EQ(s.throttled_tasks(), 0);
  EXPECT_EQ(s.lanes()[s.accounts()[0].lanes.at("gen4.5")].max_concurrency_seen, 10u);
}

TEST_F(SimStateTest, DeleteCancelsRefundsAndThen404s) {
  State& s = Make();
  const std::string running = Create(0, "sim:secs=100")->id;
  const std::string other = Create(0, "sim:secs=100")->id;
  const std::string throttled = Create(0, "sim:secs=100")->id;
  const std::string last = Create(0, "sim:secs=100")->id;
  EXPECT_EQ(s.accounts()[0].balance, 1000 - 4 * 25);

  now_ += 5 * kSecond;
  EXPECT_TRUE(s.Delete(0, throttled));   // a throttled one: refunded, leaves a tombstone
  EXPECT_EQ(s.accounts()[0].balance, 1000 - 3 * 25);
  EXPECT_TRUE(s.Delete(0, running));     // frees a slot: `last` starts now, not `throttled`
  EXPECT_EQ(s.accounts()[0].balance, 1000 - 2 * 25);
  EXPECT_EQ(StatusOf(last), Status::kPending);
  EXPECT_EQ(s.tasks()[3].start_us, now_);

  Status st{};
  EXPECT_EQ(s.Poll(0, running, &st), nullptr);  // GET after DELETE: 404
  EXPECT_FALSE(s.Delete(0, running));           // second DELETE: 404
  EXPECT_EQ(s.tasks()[0].Cost(), 0);

  now_ += 200 * kSecond;
  EXPECT_EQ(StatusOf(other), Status::kSucceeded);
  EXPECT_TRUE(s.Delete(0, other));  // a finished one is deleted, its charge stays
  EXPECT_EQ(s.accounts()[0].balance, 1000 - 2 * 25);
  EXPECT_FALSE(s.Delete(0, other));
  EXPECT_FALSE(s.Delete(1, last));  // another account's task is not found
  EXPECT_EQ(s.Poll(1, last, &st), nullptr);
}

TEST_F(SimStateTest, DailyLimitIsARollingWindow) {
  State& s = Make();
  for (int i = 0; i < 5; ++i) Create(0);
  CreateResult r = s.Create(0, "image_to_video", Facts(), {});
  EXPECT_EQ(r.kind, CreateResult::Kind::kDailyLimit);
  EXPECT_EQ(r.task, nullptr);
  EXPECT_EQ(s.accounts()[0].balance, 1000 - 5 * 25);  // a refused create costs nothing
  EXPECT_EQ(s.tasks().size(), 5u);
  EXPECT_EQ(s.Create(0, "image_to_video", Facts("gen4.5", 5), {}).kind, CreateResult::Kind::kCreated);
  now_ += 24 * 3600 * kSecond + kSecond;
  EXPECT_EQ(s.Create(0, "image_to_video", Facts(), {}).kind, CreateResult::Kind::kCreated);
}

TEST_F(SimStateTest, InsufficientCreditsCreatesNothing) {
  config_.accounts[0].balance = 24;
  State& s = Make();
  CreateResult r = s.Create(0, "image_to_video", Facts(), {});
  EXPECT_EQ(r.kind, CreateResult::Kind::kInsufficientCredits);
  EXPECT_EQ(s.accounts()[0].balance, 24);
  EXPECT_TRUE(s.tasks().empty());
  s.TopUp(0, 1);
  EXPECT_EQ(s.Create(0, "image_to_video", Facts(), {}).kind, CreateResult::Kind::kCreated);
  EXPECT_EQ(s.accounts()[0].balance, 0);
}

TEST_F(SimStateTest, DetectionDelayIsCountedOncePerTask) {
  State& s = Make();
  const std::string id = Create(0, "sim:secs=9")->id;  // ends at 10 s
  now_ = kT0 + 5 * kSecond;
  EXPECT_EQ(StatusOf(id), Status::kRunning);
  now_ = kT0 + 13 * kSecond;
  EXPECT_EQ(StatusOf(id), Status::kSucceeded);
  now_ = kT0 + 20 * kSecond;
  EXPECT_EQ(StatusOf(id), Status::kSucceeded);
  ASSERT_EQ(s.detection_delays_us().size(), 1u);
  EXPECT_EQ(s.detection_delays_us()[0], 3 * kSecond);
  EXPECT_EQ(s.tasks()[0].first_seen_terminal_us, kT0 + 13 * kSecond);
  EXPECT_EQ(s.terminal_seen(), 1);
  EXPECT_EQ(s.gets_of_terminal_seen(), 3);
  EXPECT_EQ(s.tasks()[0].gets, 3u);
}

TEST_F(SimStateTest, TimeScaleShrinksRealDurations) {
  config_.time_scale = 0.05;
  State& s = Make();
  const std::string id = Create(0, "sim:secs=20")->id;  // 1 s pending + 20 s = 1.05 s real
  now_ = kT0 + 1'040'000;
  EXPECT_EQ(StatusOf(id), Status::kRunning);
  now_ = kT0 + 1'050'000;
  EXPECT_EQ(StatusOf(id), Status::kSucceeded);
  (void)s;
}

TEST_F(SimStateTest, IdsAreUuidV4AndSeedsAreCounted) {
  State& s = Make();
  BodyFacts f = Facts("gen4.5", 5);
  f.seed = 42;
  const Task* a = Create(0, "", f);
  ASSERT_EQ(a->id.size(), 36u);
  EXPECT_EQ(a->id[14], '4');
  EXPECT_NE(std::string("89ab").find(a->id[19]), std::string::npos);
  Create(0, "", f);
  Create(0, "", f);
  EXPECT_EQ(s.creations_by_seed().at(42), 3u);
  EXPECT_EQ(s.duplicate_seeds(), 1);
  EXPECT_EQ(s.FindAccountByKey("key_other"), 1);
  EXPECT_EQ(s.FindAccountByKey("nope"), -1);
}

}  // namespace
}  // namespace runwayd::sim
