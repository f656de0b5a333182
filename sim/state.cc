// sim/state.cc — the lazy task model (see state.h).
#include "sim/state.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace runwayd::sim {
namespace {

constexpr double kDailyWindowS = 24 * 3600;  // Runway's rolling 24 h, in simulated time
constexpr double kMinRunS = 0.1;
constexpr double kUnknownModelPerSecond = 5;  // credits/s for models the table lacks
constexpr double kUnknownModelSeconds = 10;   // ... when the body names no duration

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

const char* StatusName(Status s) {
  switch (s) {
    case Status::kThrottled: return "THROTTLED";
    case Status::kPending: return "PENDING";
    case Status::kRunning: return "RUNNING";
    case Status::kSucceeded: return "SUCCEEDED";
    case Status::kFailed: return "FAILED";
    case Status::kCancelled: return "CANCELLED";
  }
  return "UNKNOWN";
}

Hooks ParseHooks(std::string_view text) {
  Hooks h;
  // Tokens may sit anywhere in the prompt, separated by whitespace.
  size_t pos = 0;
  while ((pos = text.find("sim:", pos)) != std::string_view::npos) {
    std::string_view rest = text.substr(pos + 4);
    std::string_view tok = rest.substr(0, rest.find_first_of(" \t\r\n"));
    pos += 4;
    if (StartsWith(tok, "fail=")) {
      std::string_view code = tok.substr(5);
      h.fail = true;
      if (code == "none" || code.empty()) h.failure_code.reset();
      else h.failure_code = std::string(code);
    } else if (StartsWith(tok, "secs=")) {
      std::string num(tok.substr(5));
      char* end = nullptr;
      double v = std::strtod(num.c_str(), &end);
      if (end != num.c_str() && std::isfinite(v) && v >= 0) h.run_s = v;
    } else if (StartsWith(tok, "report_cost=")) {
      std::string num(tok.substr(12));
      char* end = nullptr;
      long long v = std::strtoll(num.c_str(), &end, 10);
      if (end != num.c_str() && *end == '\0' && v >= 0) h.report_cost = v;
    } else if (tok == "other_id") {
      h.other_id = true;
    } else if (tok == "no_output") {
      h.no_output = true;
    } else if (StartsWith(tok, "gone_gets=")) {
      std::string num(tok.substr(10));
      char* end = nullptr;
      unsigned long v = std::strtoul(num.c_str(), &end, 10);
      if (end != num.c_str() && *end == '\0' && v <= UINT32_MAX) h.gone_gets = static_cast<uint32_t>(v);
    }
  }
  return h;
}

bool IsChargedFailure(const std::optional<std::string>& code) {
  if (!code) return false;
  return StartsWith(*code, "SAFETY.") || StartsWith(*code, "INPUT_PREPROCESSING.SAFETY.") ||
         StartsWith(*code, "INTERNAL.BAD_OUTPUT.");
}

std::string FailureText(const std::optional<std::string>& code) {
  if (!code) return "An unexpected error occurred.";
  const std::string& c = *code;
  if (StartsWith(c, "SAFETY.INPUT.") || StartsWith(c, "INPUT_PREPROCESSING.SAFETY."))
    return "Your input was flagged by our content moderation system.";
  if (StartsWith(c, "SAFETY.OUTPUT.")) return "The output was flagged by our content moderation system.";
  if (StartsWith(c, "INTERNAL.BAD_OUTPUT.")) return "The output did not meet our quality bar.";
  if (c == "ASSET.INVALID") return "An input asset is invalid or unsupported.";
  if (c == "THIRD_PARTY.UNAVAILABLE") return "An upstream provider is temporarily unavailable.";
  if (c == "INPUT_PREPROCESSING.INTERNAL") return "The input could not be processed. Please retry.";
  return "An internal error occurred. Please retry.";
}

State::State(const SimConfig& config, ledger::PriceTable prices, NowFn now)
    : config_(config), prices_(std::move(prices)), now_(std::move(now)), rng_(config.seed) {
  for (const AccountConfig& ac : config_.accounts) {
    Account a;
    a.config = ac;
    a.balance = ac.balance;
    by_key_[ac.key] = static_cast<uint32_t>(accounts_.size());
    accounts_.push_back(std::move(a));
  }
  // Configured limits get their lanes up front so /v1/organization lists them.
  for (uint32_t i = 0; i < accounts_.size(); ++i)
    for (const auto& [model, lim] : accounts_[i].config.limits) LaneFor(i, model);
}

int State::FindAccountByKey(std::string_view key) const {
  auto it = by_key_.find(std::string(key));
  return it == by_key_.end() ? -1 : static_cast<int>(it->second);
}

int State::FindAccountByName(std::string_view name) const {
  for (size_t i = 0; i < accounts_.size(); ++i)
    if (accounts_[i].config.name == name) return static_cast<int>(i);
  return -1;
}

int64_t State::Scaled(double sim_s) const {
  return static_cast<int64_t>(std::llround(sim_s * config_.time_scale * 1e6));
}

uint32_t State::LaneFor(uint32_t account, std::string_view model) {
  Account& a = accounts_[account];
  auto it = a.lanes.find(model);
  if (it != a.lanes.end()) return it->second;
  Lane l;
  l.account = account;
  l.model = std::string(model);
  if (auto lim = a.config.limits.find(model); lim != a.config.limits.end()) l.limits = lim->second;
  const auto index = static_cast<uint32_t>(lanes_.size());
  lanes_.push_back(std::move(l));
  a.lanes.emplace(std::string(model), index);
  return index;
}

std::string State::NewId() {
  // UUID v4 from the seeded PRNG: deterministic runs give the same ids.
  const uint64_t hi = (rng_() & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;
  const uint64_t lo = (rng_() & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xFFFF,
                     hi & 0xFFFF, lo >> 48, lo & 0xFFFFFFFFFFFFULL);
}

void State::Start(uint64_t index, int64_t at_us) {
  Task& t = tasks_[index];
  t.start_us = at_us;
  t.running_us = at_us + t.pending_real_us;
  t.end_us = t.running_us + t.run_real_us;
  Lane& l = lanes_[t.lane];
  l.active.emplace(t.end_us, index);
  l.max_concurrency_seen = std::max(l.max_concurrency_seen, l.active.size());
}

void State::StartThrottled(uint32_t lane, int64_t at_us) {
  Lane& l = lanes_[lane];
  while (!l.throttled.empty() &&
         (!l.limits.max_concurrent || l.active.size() < static_cast<size_t>(*l.limits.max_concurrent))) {
    const uint64_t next = l.throttled.front();
    l.throttled.pop_front();
    if (tasks_[next].deleted) continue;  // tombstone of a cancelled throttled task
    --l.throttled_live;
    Start(next, at_us);
  }
}

void State::Settle(uint64_t index) {
  Task& t = tasks_[index];
  t.finished = true;
  if (t.fail && !IsChargedFailure(t.failure_code)) accounts_[t.account].balance += t.estimated;
}

void State::Advance(uint32_t lane, int64_t now_us) {
  Lane& l = lanes_[lane];
  // Retire in end-time order; each freed slot goes to the next throttled task at the
  // instant it freed, which may itself end before now (handled by the same loop).
  while (!l.active.empty() && l.active.begin()->first <= now_us) {
    const auto [end_us, index] = *l.active.begin();
    l.active.erase(l.active.begin());
    Settle(index);
    StartThrottled(lane, end_us);
  }
  const int64_t horizon = now_us - Scaled(kDailyWindowS);
  while (!l.daily.empty() && l.daily.front() <= horizon) l.daily.pop_front();
}

void State::AdvanceAccount(uint32_t account) {
  const int64_t now = now_();
  for (const auto& [model, lane] : accounts_[account].lanes) Advance(lane, now);
}

void State::AdvanceAll() {
  const int64_t now = now_();
  for (uint32_t i = 0; i < lanes_.size(); ++i) Advance(i, now);
}

CreateResult State::Create(uint32_t account, std::string_view endpoint, const BodyFacts& facts,
                           const Hooks& hooks) {
  const int64_t now = now_();
  const uint32_t lane = LaneFor(account, facts.model);
  Advance(lane, now);
  Lane& l = lanes_[lane];
  Account& a = accounts_[account];
  CreateResult r;
  if (l.limits.max_daily && static_cast<int64_t>(l.daily.size()) >= *l.limits.max_daily) {
    r.kind = CreateResult::Kind::kDailyLimit;
    return r;
  }
  int64_t cost = 0;
  if (auto c = prices_.Cost(facts)) {
    cost = *c;
  } else {
    const double secs = facts.has_duration ? facts.duration_s : kUnknownModelSeconds;
    cost = static_cast<int64_t>(std::ceil(kUnknownModelPerSecond * secs));
  }
  if (cost > a.balance) {
    r.kind = CreateResult::Kind::kInsufficientCredits;
    return r;
  }

  Task t;
  t.id = NewId();
  t.account = account;
  t.lane = lane;
  t.endpoint = std::string(endpoint);
  t.seed = facts.seed;
  t.estimated = cost;
  t.created_us = now;
  auto timing = config_.task.models.find(facts.model);
  const ModelTiming& mt = timing == config_.task.models.end() ? config_.task.timing : timing->second;
  double run_s = mt.duration_s + std::uniform_real_distribution<double>(-mt.jitter_s, mt.jitter_s)(rng_);
  const double fail_roll = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  const size_t code_pick = rng_() % config_.task.failure_codes.size();
  if (hooks.run_s) run_s = *hooks.run_s;
  t.report_cost = hooks.report_cost;
  t.other_id = hooks.other_id;
  t.no_output = hooks.no_output;
  t.gone_gets = hooks.gone_gets;
  t.run_sim_s = std::max(run_s, kMinRunS);
  t.pending_real_us = Scaled(config_.task.pending_s);
  t.run_real_us = Scaled(t.run_sim_s);
  if (hooks.fail) {
    t.fail = true;
    t.failure_code = hooks.failure_code;
  } else if (fail_roll < config_.task.failure_rate) {
    t.fail = true;
    t.failure_code = config_.task.failure_codes[code_pick];
  }

  a.balance -= cost;
  ++a.created;
  ++l.created;
  l.daily.push_back(now);
  if (facts.seed >= 0 && ++by_seed_[facts.seed] == 2) ++duplicate_seeds_;
  const uint64_t index = tasks_.size();
  by_id_.emplace(t.id, index);
  tasks_.push_back(std::move(t));
  if (!l.limits.max_concurrent || l.active.size() < static_cast<size_t>(*l.limits.max_concurrent)) {
    Start(index, now);
  } else {
    tasks_[index].ever_throttled = true;
    l.throttled.push_back(index);
    ++l.throttled_live;
    ++throttled_tasks_;
  }
  r.task = &tasks_[index];
  return r;
}

const Task* State::Find(uint32_t account, std::string_view id) const {
  auto it = by_id_.find(std::string(id));
  if (it == by_id_.end()) return nullptr;
  const Task& t = tasks_[it->second];
  if (t.deleted || t.account != account) return nullptr;
  return &t;
}

Status State::StatusAt(const Task& t, int64_t now) const {
  if (t.cancelled) return Status::kCancelled;
  if (t.start_us < 0) return Status::kThrottled;
  if (now < t.running_us) return Status::kPending;
  if (now < t.end_us) return Status::kRunning;
  return t.fail ? Status::kFailed : Status::kSucceeded;
}

double State::ProgressAt(const Task& t, int64_t now) const {
  if (t.start_us < 0 || now <= t.running_us) return 0;
  if (now >= t.end_us) return 1;
  double elapsed_s = static_cast<double>(now - t.running_us) / 1e6 / config_.time_scale;
  // Runway updates a task at most every few seconds: quantise to update_s.
  if (config_.task.update_s > 0) elapsed_s = std::floor(elapsed_s / config_.task.update_s) * config_.task.update_s;
  return std::clamp(elapsed_s / t.run_sim_s, 0.0, 1.0);
}

const Task* State::Poll(uint32_t account, std::string_view id, Status* status) {
  const Task* found = Find(account, id);
  if (found == nullptr) return nullptr;
  const int64_t now = now_();
  Advance(found->lane, now);
  Task& t = tasks_[by_id_[found->id]];
  ++t.gets;
  if (t.gets <= t.gone_gets) return nullptr;  // hook: answered 404, counted as a GET
  *status = StatusAt(t, now);
  if (*status == Status::kSucceeded || *status == Status::kFailed) {
    if (t.first_seen_terminal_us == 0) {
      t.first_seen_terminal_us = now;
      detection_us_.push_back(now - t.end_us);
      gets_of_terminal_seen_ += t.gets;
    } else {
      ++gets_of_terminal_seen_;
    }
  }
  return &t;
}

bool State::Delete(uint32_t account, std::string_view id) {
  const Task* found = Find(account, id);
  if (found == nullptr) return false;
  const int64_t now = now_();
  const uint64_t index = by_id_[found->id];
  const uint32_t lane = found->lane;
  Advance(lane, now);
  Task& t = tasks_[index];
  Lane& l = lanes_[lane];
  if (!t.finished) {
    // Cancellation: no charge, and a freed slot goes to the next throttled task now.
    t.cancelled = true;
    t.cancel_us = now;
    t.finished = true;
    accounts_[t.account].balance += t.estimated;
    if (t.start_us >= 0) {
      l.active.erase({t.end_us, index});
      StartThrottled(lane, now);
    } else {
      --l.throttled_live;  // stays in the FIFO as a tombstone, skipped when reached
    }
  }
  t.deleted = true;
  return true;
}

int64_t State::TopUp(uint32_t account, int64_t credits) {
  AdvanceAccount(account);
  accounts_[account].balance += credits;
  return accounts_[account].balance;
}

}  // namespace runwayd::sim
