// daemon/ledger_flow.cc — admission and routing against the ledger, reconciliation.
//
// Before any create, one Lua step (ledger::kReserve) holds the job's estimated cost
// and a concurrency slot for (account, model) within the account's estimate, its
// tier's limits and its daily generations, and marks the job "create_sent". Accounts
// are tried in policy order (priority, then most remaining credit; a pinned job only
// its account). What happens when none can take the job now:
//   * no free slot (or no reading yet, or a 429 slowdown): the job waits its turn in a
//     FIFO per model and is woken when a slot of that model is released;
//   * no credit (or the daily limit): its fallback_models are tried in order; then it
//     parks for up to credit_wait_s, re-checked after every reconciliation, so a
//     top-up rescues it; then it fails upstream_insufficient_credits with a refund.
// Reconciliation reads GET /v1/organization per account every reconcile_interval_s,
// right after an insufficient-credits or daily-limit answer, and when the estimate
// crosses the low-balance threshold; each reading is a balance_reconciled event
// carrying the drift between the estimate and the truth.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/engine.h"
#include "ledger/scripts.h"
#include "runway/checks.h"

namespace runwayd {
namespace {

enum Reason { kSlot = 1, kUnread = 2, kCredit = 4, kDaily = 8, kDisabled = 16, kSlow = 32, kUnreadable = 64 };
// Readings of an account's balance that failed in a row before its jobs stop waiting
// for the first one (a failed reading is retried after 5 s, or the server's
// Retry-After up to a minute): a wrong URL, TLS or proxy fails them all, and a job must
// end upstream_unavailable, not sit until its deadline. An answer that says "later"
// (429, 502, 503, 504) proves the URL, TLS and key work: Runway is busy (several
// daemons started at once, say), and the jobs wait for a reading up to a minute.
constexpr int kUnreadableAfter = 3;
constexpr int64_t kReadRetryMs = 5000, kBusyPatienceMs = 60000;

std::string_view Elem(redisReply* r, size_t i) {
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY || i >= r->elements) return {};
  redisReply* e = r->element[i];
  return e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS ? std::string_view(e->str, e->len)
                                                                          : std::string_view();
}

int64_t ToInt(std::string_view s) { return std::atoll(std::string(s).c_str()); }

// Routing order: higher priority first, then the larger last-known estimate.
bool RoutesBefore(const Account* x, const Account* y) {
  return x->cfg.priority != y->cfg.priority ? x->cfg.priority > y->cfg.priority : x->estimate > y->estimate;
}

}  // namespace

void Engine::DoReserve(Task* t) {
  if (t->job.body.empty()) {  // released while the previous task ran: read it again
    Job again;
    ParseJob(t->job.raw, rules_.AsAdmitted(), &again);  // as in Resume(): a reload since must not empty the body
    t->job.body = std::move(again.body);
  }
  if (t->cancel == CancelReason::kOperator)
    return Fail(t, ErrorClass::kCancelled, "cancelled", "cancelled by an operator before a task was created", "cancelled");
  if (Wall() >= t->deadline_ms)
    return Fail(t, ErrorClass::kDeadlineExceeded, "deadline_exceeded", "the deadline passed before a task was created");
  auto cands = std::make_shared<std::vector<Account*>>();
  for (auto& a : accounts_) {
    if (!t->job.account.empty() && a->cfg.name != t->job.account) continue;
    if (!a->disabled()) cands->push_back(a.get());
  }
  if (cands->empty()) {
    std::string why = t->job.account.empty() ? "no usable account (all disabled)"
                                             : "account " + t->job.account + " is not configured or is disabled";
    return Fail(t, ErrorClass::kAccountUnusable, "no_account", why);
  }
  std::stable_sort(cands->begin(), cands->end(), RoutesBefore);
  TryReserve(t, std::move(cands), 0, 0);
}

void Engine::TryReserve(Task* t, std::shared_ptr<std::vector<Account*>> cands, size_t i, int reasons) {
  for (; i < cands->size() && (*cands)[i]->slow_until_ms > Mono(); ++i) reasons |= kSlow;
  if (i == cands->size()) return NoAccountNow(t, reasons);
  Account* a = (*cands)[i];
  t->busy = true;
  std::string jk = store_->keys().job(t->job.id), cost = std::to_string(t->estimated.value_or(0)),
              attempt = std::to_string(t->attempt), now = std::to_string(t->submitted_at_ms ? t->submitted_at_ms : Wall());
  std::string body = t->fallback_used ? t->job.body : std::string();
  store_->Eval(ledger::kReserve, {a->key, jk},
               {cfg_.daemon_id, a->cfg.name, t->model, cost, attempt, now, body, cfg_.prefix},
               [this, slot = t->slot, gen = t->gen, cands, i, reasons, a](redisReply* r) mutable {
    Task* t = Find(slot, gen);
    if (t == nullptr) return;
    t->busy = false;
    std::string_view kind = Elem(r, 0);
    if (kind.empty()) return RetryStep(t, runway::BackoffMs(t->step_errors, 200, 5000, {}, Unit()));
    if (kind == "not_owner") {
      spdlog::warn("job={} is owned by another daemon now; letting it go", t->job.id);
      return FreeTask(t);
    }
    // Answered: the script released any hold the job still had (a settle whose reply was
    // lost), so nothing is held here now; Reserved() takes the new one.
    if (t->holds_slot) {
      InFlight(t, -1);
      t->holds_slot = false;
    }
    if (kind == "ok") return Reserved(t, a, Elem(r, 1), Elem(r, 2));
    if (kind == "slot") reasons |= kSlot;
    else if (kind == "unknown") reasons |= a->unreadable ? kUnreadable : kUnread, Reconcile(a);
    else if (kind == "credit" || kind == "short") reasons |= kCredit;
    else if (kind == "daily") reasons |= kDaily;
    else if (kind == "disabled") reasons |= kDisabled, a->flagged = true;
    if (kind != "unknown" && kind != "disabled") a->estimate = ToInt(Elem(r, 1));
    TryReserve(t, std::move(cands), i + 1, reasons);
  });
}

// The job holds a reservation on `a` (kReserve, or kAdmit for the first one): create.
void Engine::Reserved(Task* t, Account* a, std::string_view estimate, std::string_view low) {
  t->account = a;
  t->credit_wait_until = 0;  // a later attempt that finds no credit waits afresh
  t->holds_slot = true;
  InFlight(t, +1);
  t->final_cost = 0;
  if (t->submitted_at_ms == 0) t->submitted_at_ms = t->reserve_sent_ms ? t->reserve_sent_ms : Wall();
  OnLedger(a, estimate, low);
  t->step_errors = 0;
  t->step = Step::kCreate;
  RunStep(t);
}

Account* Engine::AccountNamed(std::string_view name) const {
  for (const auto& a : accounts_)
    if (a->cfg.name == name) return a.get();
  return nullptr;
}

// The account DoReserve would try first, for a reservation made by the admission itself;
// null when routing needs its full path (pinned to a disabled account, all slowed down).
Account* Engine::FirstChoice(const Task* t) const {
  Account* best = nullptr;
  for (const auto& a : accounts_) {
    if (!t->job.account.empty() && a->cfg.name != t->job.account) continue;
    if (a->disabled() || a->slow_until_ms > Mono()) continue;
    if (best == nullptr || RoutesBefore(a.get(), best)) best = a.get();
  }
  return best;
}

void Engine::NoAccountNow(Task* t, int reasons) {
  if (reasons & (kSlot | kUnread | kSlow)) {
    // Someone can run it soon: wait for a slot of this model (or the first reading).
    Park(t, Scaled(10000));
    if (reasons & kSlot) slot_waiters_[t->model].emplace_back(t->slot, t->gen);
    else parked_.emplace_back(t->slot, t->gen);
    return;
  }
  if (reasons & (kCredit | kDaily)) {
    if (Fallback(t)) return DoReserve(t);
    int64_t now = Wall();
    if (t->credit_wait_until == 0) {
      t->credit_wait_until = now + cfg_.credit_wait_s * 1000;
      spdlog::warn("job={} no account can pay for {} now: waiting up to {} s for credit", t->job.id, t->model,
                   cfg_.credit_wait_s);
    }
    if (now >= t->credit_wait_until) {
      bool credit = reasons & kCredit;
      return Fail(t, credit ? ErrorClass::kUpstreamInsufficientCredits : ErrorClass::kUpstreamUnavailable,
                  credit ? "insufficient_credits" : "daily_limit",
                  credit ? "no account has enough credits for this job" : "every account reached its daily limit");
    }
    // Back to the model the producer asked for: a top-up should buy what was ordered.
    if (!t->original_body.empty()) {
      t->job.body = std::move(t->original_body);
      t->original_body.clear();
      t->model = t->job.facts.model = t->original_model;
      t->estimated = cfg_.prices.Cost(t->job.facts);
    }
    t->fallback_used = 0;
    Park(t, std::min<int64_t>(t->credit_wait_until - now, Scaled(30000)));
    parked_.emplace_back(t->slot, t->gen);
    return;
  }
  if (reasons & kUnreadable) {
    std::string why;
    for (const auto& a : accounts_)
      if (a->unreadable) why += (why.empty() ? "" : "; ") + a->cfg.name + ": " + a->read_error;
    return Fail(t, ErrorClass::kUpstreamUnavailable, "balance_unreadable",
                "no account's balance could be read from Runway (" + why + ")");
  }
  Fail(t, ErrorClass::kAccountUnusable, "no_account", "every account that could run this job is disabled");
}

bool Engine::Fallback(Task* t) {
  const auto& fbs = t->job.fallback_models;
  while (t->fallback_used < fbs.size()) {
    const std::string& fb = fbs[t->fallback_used++];
    if (fb == t->model) continue;
    const std::string& src = t->original_body.empty() ? t->job.body : t->original_body;
    rapidjson::Document doc;
    doc.Parse(src.data(), src.size());
    if (doc.HasParseError() || !doc.IsObject()) return false;
    doc["model"].SetString(fb.data(), static_cast<rapidjson::SizeType>(fb.size()), doc.GetAllocator());
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    doc.Accept(w);
    Job probe = t->job;
    probe.facts.model = fb;
    runway::CheckResult chk = runway::CheckJobBody(probe, cfg_.checks);
    if (!chk.ok) {
      spdlog::info("job={} fallback model {} skipped: {}", t->job.id, fb, chk.error);
      continue;
    }
    if (t->original_body.empty()) {
      t->original_body = t->job.body;
      t->original_model = t->job.facts.model;
    }
    spdlog::info("job={} no account can pay for {}: falling back to {}", t->job.id, t->model, fb);
    t->job.body.assign(sb.GetString(), sb.GetSize());
    t->model = t->job.facts.model = fb;
    t->estimated = cfg_.prices.Cost(t->job.facts);
    return true;
  }
  return false;
}

void Engine::Park(Task* t, int64_t delay_ms) {
  t->step = Step::kReserve;
  Schedule(t, delay_ms);
}

void Engine::WakeSlotWaiter(const std::string& model) {
  auto it = slot_waiters_.find(model);
  if (it == slot_waiters_.end()) return;
  auto& q = it->second;
  while (!q.empty()) {
    auto [slot, gen] = q.front();
    q.pop_front();
    Task* t = Find(slot, gen);
    if (t && t->step == Step::kReserve && !t->busy) return Schedule(t, 0);
  }
}

void Engine::WakeAll() {
  std::vector<std::pair<uint32_t, uint32_t>> all;
  all.swap(parked_);
  for (auto& [model, q] : slot_waiters_) all.insert(all.end(), q.begin(), q.end()), q.clear();
  for (auto [slot, gen] : all) {
    Task* t = Find(slot, gen);
    if (t && t->step == Step::kReserve && !t->busy) Schedule(t, 0);
  }
}

void Engine::Settle(Task* t, int64_t final_cost, const char* state, std::function<void(Task*)> next,
                    int64_t retry_due_wall) {
  if (t->account == nullptr || !t->holds_slot) return next(t);
  t->busy = true;
  std::string jk = store_->keys().job(t->job.id), fc = std::to_string(final_cost),
              due = retry_due_wall ? std::to_string(retry_due_wall) : std::string();
  std::vector<std::string_view> args = {cfg_.daemon_id, fc, state, cfg_.prefix};
  if (retry_due_wall) args.insert(args.end(), {t->job.id, due});
  store_->Eval(ledger::kSettle, {t->account->key, jk}, args,
               [this, slot = t->slot, gen = t->gen, next = std::move(next)](redisReply* r) {
    Task* t = Find(slot, gen);
    if (t == nullptr) return;
    t->busy = false;
    std::string_view kind = Elem(r, 0);
    if (kind == "not_owner") return FreeTask(t);
    // On a Redis failure the hold stays in the record: the next kReserve or the
    // finish releases it (both settle any hold first), so nothing leaks.
    if (kind == "ok") {
      OnLedgerReply(t->account, r, 1, 2);
      InFlight(t, -1);
      t->holds_slot = false;
      std::string model = t->model;
      if (Elem(r, 3) == "1") {  // the job waits in the retry set now, not here
        spdlog::debug("job={} waits in the retry set", t->job.id);
        // An operator's cancel that came while the hand-off was on the wire: this task
        // no longer holds the job, so the cancel goes where a waiting job's cancel goes
        // (P:cancelreq, seen when the retry is taken), or to whoever took it meanwhile.
        if (t->cancel == CancelReason::kOperator) store_->RouteCancel(t->job.id, [](std::string_view) {});
        FreeTask(t);
        return WakeSlotWaiter(model);
      }
      WakeSlotWaiter(model);
    }
    next(t);
  });
}

void Engine::OnLedgerReply(Account* a, redisReply* r, size_t estimate_at, size_t low_at) {
  OnLedger(a, Elem(r, estimate_at), Elem(r, low_at));
}

void Engine::OnLedger(Account* a, std::string_view e, std::string_view low) {
  if (!e.empty()) a->estimate = ToInt(e);
  if (low == "1") {
    spdlog::warn("account {} is low: estimate {} credits, threshold {}", a->cfg.name, a->estimate, a->cfg.low_balance);
    AccountEvent("low_balance", a, {{"estimate", a->estimate}, {"threshold", a->cfg.low_balance}}, {});
    Reconcile(a);
  }
}

bool Engine::RejectKey(Account* a, uint64_t key_gen, const char* what, long status, const std::string& reason) {
  if (key_gen != a->key_gen) return false;  // the old key's verdict: the new one is still to be tried
  const bool was_disabled = a->disabled();
  a->key_rejected = true;
  if (was_disabled) return false;
  spdlog::error("account {} disabled: {} was answered {} (bad, disabled or suspended key)", a->cfg.name, what,
                status);
  store_->conn()->Command({"HSET", a->key, "disabled", "1"}, [](redisReply*) {});
  AccountEvent("account_disabled", a, {{"http_status", status}}, {{"reason", reason}});
  return true;
}

void Engine::ReconcileDue() {
  for (auto& a : accounts_)
    if (!a->reconciling && Mono() >= a->next_reconcile_ms) Reconcile(a.get());
}

// Accounts are read even while `flagged` by the account hash alone: that flag may be
// another run's verdict on a key fixed since, and only a reading can clear it. Not
// read: a key Runway rejected here (until a reload brings a new one), a removed account.
void Engine::Reconcile(Account* a) {
  if (a->reconciling || a->key_rejected || a->removed || stopping_ || closed_) return;
  // After a failed reading every waiting job's retry and every arrival asked for one at
  // once: a 429 was answered by more requests. The next one waits for its time.
  if (a->read_failures > 0 && Mono() < a->next_reconcile_ms) return;
  a->reconciling = true;
  int64_t sent = Wall();
  store_->conn()->Command({"HMGET", a->key, "charged_total", "returned_total"}, [this, a, sent](redisReply* r) {
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || stopping_) {
      a->reconciling = false;
      a->next_reconcile_ms = Mono() + 2000;
      return;
    }
    auto num = [](redisReply* e) { return e->type == REDIS_REPLY_STRING ? std::string(e->str, e->len) : "0"; };
    std::string c0 = num(r->element[0]), r0 = num(r->element[1]);
    Send("organization", Request(a, "GET", "/v1/organization"),
         [this, a, sent, c0, r0, key_gen = a->key_gen](runway::HttpResult&& h) {
      runway::Classification c =
          runway::ClassifyExchange({runway::Phase::kOrganization, h.transport, h.status, h.body});
      if (c.verdict != runway::Verdict::kSuccess) {
        a->reconciling = false;
        if (key_gen != a->key_gen) {  // sent with a key a reload replaced: read again with the new one
          a->next_reconcile_ms = 0;
          return;
        }
        const int64_t now = Mono();
        a->next_reconcile_ms = now + std::clamp(h.hints.after_ms.value_or(0), kReadRetryMs, kBusyPatienceMs);
        if (c.account == runway::AccountIssue::kUnauthorized &&
            RejectKey(a, key_gen, "GET /v1/organization", h.status, c.message)) {
          WakeAll();  // its waiting jobs route elsewhere
        } else {
          spdlog::warn("account {}: reading the balance failed: {}", a->cfg.name, c.message);
          a->read_error = c.code.empty() ? c.message : c.code + ": " + c.message;
          if (a->read_failures++ == 0) a->read_failing_since_ms = now;
          const bool busy = h.transport == runway::Transport::kAnswered &&
                            (h.status == 429 || (h.status >= 502 && h.status <= 504));
          if (!a->unreadable && a->read_failures >= kUnreadableAfter &&
              (!busy || now - a->read_failing_since_ms >= kBusyPatienceMs)) {
            a->unreadable = true;
            WakeAll();  // its waiting jobs stop waiting
          }
        }
        return;
      }
      a->read_failures = 0;
      a->unreadable = false;
      if (a->flagged) {  // the key works: kReconcile clears the shared flag too
        a->flagged = false;
        spdlog::info("account {} usable again: a balance reading succeeded", a->cfg.name);
      }
      runway::OrganizationAnswer org = runway::ParseOrganizationAnswer(h.body);
      std::vector<std::string> args = {std::to_string(org.credit_balance), std::to_string(sent), c0, r0,
                                       std::to_string(Wall()), std::to_string(a->cfg.low_balance)};
      std::map<std::string, bool> models;
      for (const auto& [m, l] : org.limits) models[m] = true;
      for (const auto& [m, l] : a->cfg.limits) models[m] = true;
      for (const auto& [m, unused] : models) {
        (void)unused;
        std::optional<int64_t> mc, md;
        if (auto it = org.limits.find(m); it != org.limits.end()) mc = it->second.max_concurrent, md = it->second.max_daily;
        if (auto it = a->cfg.limits.find(m); it != a->cfg.limits.end()) {
          if (it->second.max_concurrent) mc = it->second.max_concurrent;
          if (it->second.max_daily) md = it->second.max_daily;
        }
        auto used = org.daily_generations.find(m);
        args.push_back(m);
        args.push_back(mc ? std::to_string(*mc) : "");
        args.push_back(md ? std::to_string(*md) : "");
        args.push_back(used != org.daily_generations.end() ? std::to_string(used->second) : "");
      }
      std::vector<std::string_view> argv(args.begin(), args.end());
      store_->Eval(ledger::kReconcile, {a->key}, argv, [this, a, balance = org.credit_balance](redisReply* r2) {
        a->reconciling = false;
        a->next_reconcile_ms = Mono() + cfg_.reconcile_interval_s * 1000;
        std::string_view kind = Elem(r2, 0);
        if (kind != "ok") return;
        std::string_view before = Elem(r2, 1);
        a->estimate = ToInt(Elem(r2, 2));
        std::vector<std::pair<std::string_view, int64_t>> ints = {{"balance", balance}, {"estimate", a->estimate}};
        if (!before.empty()) {
          ints.emplace_back("estimate_before", ToInt(before));
          ints.emplace_back("drift", ToInt(before) - a->estimate);
          m_->BalanceDrift(a->cfg.name)->Set(static_cast<double>(ToInt(before) - a->estimate));
        }
        spdlog::info("account {} reconciled: balance {}, estimate {}{}", a->cfg.name, balance, a->estimate,
                     before.empty() ? "" : fmt::format(" (was {})", before));
        AccountEvent("balance_reconciled", a, std::move(ints), {});
        if (Elem(r2, 3) == "1") OnLedgerReply(a, r2, 2, 3);
        WakeAll();
      });
    });
  });
}

}  // namespace runwayd
