// daemon/flow.cc — one job's steps: admit, mark, create, record, poll, cancel.
//
// Each Do*() starts one piece of I/O with the task marked busy; its callback finds
// the task again by (slot, gen), clears busy and chooses the next step from the
// classification (runway/classify.h). The order of the money-relevant writes:
//   1. kReserve: the ledger holds the cost and a slot, and P:job:<id> says
//      "create_sent, attempt N", in one Lua step (Redis confirmed) ...
//   2. ... only then the POST goes out;
//   3. kRecordTask: the task id is stored as soon as the answer is read, before
//      anything else happens to the job.
// A crash between 1 and 3 is the one window nobody can close: recovery reports it
// as outcome_unknown (daemon/intake.cc, Resume()).
#include <spdlog/spdlog.h>

#include <cstring>

#include "daemon/engine.h"
#include "ledger/scripts.h"
#include "runway/checks.h"

namespace runwayd {

#define FIND_OR_RETURN(t, slot, gen) \
  Task* t = Find(slot, gen);         \
  if (t == nullptr) return;          \
  t->busy = false

runway::HttpRequest Engine::Request(Account* a, const char* method, std::string path) {
  runway::HttpRequest r;
  r.method = method;
  r.url = cfg_.base_url + path;
  const bool bodyless = std::strcmp(method, "GET") == 0 || std::strcmp(method, "DELETE") == 0;
  r.headers = bodyless ? a->bare_headers : a->headers;
  return r;
}

void Engine::RetryStep(Task* t, int64_t delay_ms) {
  t->busy = false;
  ++t->step_errors;
  Schedule(t, delay_ms);
}

static runway::RetryHints NoHints() { return {}; }

void Engine::DoAdmit(Task* t) {
  t->busy = true;
  if (t->admit_token == 0) t->admit_token = token_rng_() | 1;
  // The first reservation rides on the admission when the job passes its checks and an
  // account is the obvious first choice: one round trip less per job. Otherwise (or when
  // that reservation is refused) the job is routed after admission as usual.
  std::optional<AdmitReservation> res;
  runway::CheckResult chk;
  Account* first = nullptr;
  if (PrepareAttempt(t, &chk) && t->cancel == CancelReason::kNone && Wall() < t->deadline_ms &&
      (first = FirstChoice(t)) != nullptr) {
    t->reserve_sent_ms = Wall();
    res = AdmitReservation{first->key, first->cfg.name, t->model, std::to_string(t->estimated.value_or(0)),
                           std::to_string(t->attempt), std::to_string(t->reserve_sent_ms)};
  }
  store_->Admit(t->job.id, t->job.raw, t->taken_at_ms, t->admit_token, res ? &*res : nullptr,
                [this, slot = t->slot, gen = t->gen](AdmitOutcome o) {
    FIND_OR_RETURN(t, slot, gen);
    switch (o.kind) {
      case AdmitOutcome::kError:
        return RetryStep(t, runway::BackoffMs(t->step_errors, 200, 5000, NoHints(), Unit()));
      case AdmitOutcome::kDuplicateRunning:
      case AdmitOutcome::kDuplicateDone: {
        bool running = o.kind == AdmitOutcome::kDuplicateRunning;
        ForgetId(t);
        // Running here, says Redis, but no task here holds it: a reply that made it ours
        // was lost. Load what our in-flight set holds (lost_replies.cc).
        if (running && o.detail == cfg_.daemon_id && by_id_.count(t->job.id) == 0) resync_inflight_ = true;
        return FinishDuplicate(t, o);
      }
      case AdmitOutcome::kGone:
        // Adopted by another daemon while we were cut off from Redis: it runs the job.
        spdlog::warn("job={} was adopted by another daemon before this one admitted it; letting it go", t->job.id);
        return FreeTask(t);
      case AdmitOutcome::kCancelled:
        ForgetId(t);
        return Fail(t, ErrorClass::kCancelled, "cancelled", "cancelled by an operator before it started", "cancelled");
      case AdmitOutcome::kOk:
        t->admitted = true;
        t->refund_emitted_before = o.refund_emitted;
        t->replayed = o.replayed;
        if (Account* a = AccountNamed(o.reserve_account)) {
          if (o.reserve_kind == "ok") return Reserved(t, a, o.reserve_estimate, o.reserve_low);
          if (o.reserve_kind == "disabled") a->flagged = true;
        }
        // No reservation, a refused one, or its account left the configuration meanwhile
        // (a reload: kReserve settles the hold): route as usual.
        return AfterAdmit(t);
    }
  });
}

// What an attempt needs before its reservation: deadline, model, estimated cost and
// attempt number. False (with the reason in *chk) when the body fails the checks.
bool Engine::PrepareAttempt(Task* t, runway::CheckResult* chk) {
  int64_t deadline_s = t->job.deadline_s.value_or(cfg_.default_deadline_s);
  t->deadline_ms = t->taken_at_ms + deadline_s * 1000;
  *chk = runway::CheckJobBody(t->job, cfg_.checks);
  if (!chk->ok) return false;
  if (t->model.empty()) t->model = t->job.facts.model;
  if (!t->estimated) t->estimated = cfg_.prices.Cost(t->job.facts);
  if (t->attempt == 0) t->attempt = 1;
  return true;
}

void Engine::AfterAdmit(Task* t) {
  runway::CheckResult chk;
  if (!PrepareAttempt(t, &chk)) return Fail(t, ErrorClass::kInvalidInput, "invalid_input", chk.error);
  t->step = Step::kReserve;
  RunStep(t);
}

void Engine::DoCreate(Task* t) {
  t->busy = true;
  runway::HttpRequest req = Request(t->account, "POST", "/v1/" + t->job.endpoint);
  req.body = t->job.body;
  // The metric series: the two common endpoints by name, the rest together (literals:
  // the job's own string would not outlive a request whose task was freed meanwhile).
  const char* series = t->job.endpoint == "image_to_video"  ? "image_to_video"
                       : t->job.endpoint == "text_to_video" ? "text_to_video"
                                                            : "create";
  Send(series, std::move(req), [this, slot = t->slot, gen = t->gen, key_gen = t->account->key_gen](
                                   runway::HttpResult&& r) {
    FIND_OR_RETURN(t, slot, gen);
    if (closed_ && r.transport != runway::Transport::kNotSent) {
      // Cut off by the end of the grace period after it went out: Runway may have made
      // (and charged) the task. Nothing is settled: the record stays "create_sent", and
      // the next start applies upstream.on_unknown_outcome to it, as after a crash.
      spdlog::warn("job={} stopping with a create sent and unanswered: left for the next start "
                   "(outcome unknown)", t->job.id);
      return;
    }
    runway::Classification c = runway::ClassifyExchange({runway::Phase::kCreate, r.transport, r.status, r.body});
    if (c.slow_account) {
      Account* a = t->account;
      a->slow_until_ms = Mono() + runway::BackoffMs(a->slow_level++, Scaled(1000), Scaled(30000), r.hints, Unit());
    }
    switch (c.verdict) {
      case runway::Verdict::kSuccess: {
        runway::CreateAnswer ca = runway::ParseCreateAnswer(r.body);
        t->account->slow_level = 0;
        t->task_id = ca.id;
        t->attempt_reached = true;
        if (ca.estimated_credits) t->estimated = ca.estimated_credits;
        t->created_mono = Mono();
        t->step_errors = 0;
        spdlog::debug("job={} task={} created (attempt {}, model {}, account {})", t->job.id, t->task_id, t->attempt,
                     t->model, t->account->cfg.name);
        t->step = Step::kRecordTask;
        return RunStep(t);
      }
      case runway::Verdict::kRetrySame: {
        bool give_up = r.hints.should_retry == false || ++t->create_retries > cfg_.max_create_retries;
        if (give_up) return Fail(t, ErrorClass::kUpstreamUnavailable, c.code, "Runway refused the create: " + c.message);
        spdlog::info("job={} create refused ({}), retrying", t->job.id, c.code);
        // (A server's hint, up to an hour, is honoured up to the deadline: no longer.)
        int64_t delay = std::min(runway::BackoffMs(t->create_retries - 1, Scaled(cfg_.retry_base_ms),
                                                   Scaled(cfg_.retry_cap_ms), r.hints, Unit()), ToDeadlineMs(t));
        // The create certainly did not happen: release the hold while we wait.
        return Settle(t, 0, "refused", [this, delay](Task* t2) {
          t2->step = Step::kReserve;
          RetryStep(t2, stopping_ ? 0 : delay);  // stopping: an unanswered settle is repeated now (RunStep)
        });
      }
      case runway::Verdict::kAccountProblem: {
        Account* a = t->account;
        if (c.account == runway::AccountIssue::kUnauthorized) {
          RejectKey(a, key_gen, "a create", r.status, c.message);
        } else if (c.account == runway::AccountIssue::kInsufficientCredits) {
          spdlog::warn("job={} account {} has not enough credits although the estimate said so: reconciling, "
                       "re-routing", t->job.id, a->cfg.name);
          store_->conn()->Command({"HSET", a->key, "short", "1"}, [](redisReply*) {});
          Reconcile(a);
        } else {  // the daily generation limit
          spdlog::warn("job={} account {} reached its daily limit for {}: reconciling, re-routing", t->job.id,
                        a->cfg.name, t->model);
          // Closed until the next reading says otherwise (it sets the real limit and usage).
          store_->conn()->Command({"HSET", a->key, "daily_limit:" + t->model, "0"}, [](redisReply*) {});
          Reconcile(a);
        }
        // A refusal for the account is a refused create like a 429: resent at most
        // max_create_retries times. The reading that follows it clears the mark, and when
        // it disagrees with Runway (a price table below Runway's price, a rolling daily
        // window the usage figures do not show) the ledger lets the job through again at
        // once: without this bound it was sent and refused until its deadline.
        if (c.account != runway::AccountIssue::kUnauthorized && ++t->create_retries > cfg_.max_create_retries)
          return Fail(t, c.error_class, c.code, "Runway refused the create: " + c.message);
        // Nothing was created: release the hold and route again (another account may take it).
        return Settle(t, 0, "refused", [this](Task* t2) {
          // Unanswered, the hold stays: its account is kept so a stop can give it back.
          if (!t2->holds_slot) t2->account = nullptr;
          t2->step = Step::kReserve;
          RetryStep(t2, Scaled(200));
        });
      }
      case runway::Verdict::kOutcomeUnknown:
        t->final_cost = -2;  // the ledger assumes the create charged; reconciliation corrects it
        t->attempt_reached = true;
        if (cfg_.resubmit_unknown && t->create_retries++ < cfg_.max_create_retries) {
          spdlog::warn("job={} create outcome unknown ({}); resubmitting as configured", t->job.id, c.code);
          ++t->attempt;
          t->attempt_reached = false;
          return SettleCharged(
              t, std::max<int64_t>(1, runway::BackoffMs(0, Scaled(cfg_.retry_base_ms), Scaled(cfg_.retry_cap_ms),
                                                        r.hints, Unit())));
        }
        spdlog::warn("job={} create outcome unknown ({}): {}", t->job.id, c.code, c.message);
        AccountEvent("outcome_unknown", t->account, {}, {{"job", t->job.id}, {"code", c.code}});
        return Fail(t, ErrorClass::kOutcomeUnknown, c.code, c.message);
      default:
        return Fail(t, c.error_class, c.code, c.message);
    }
  });
}

void Engine::DoRecordTask(Task* t) {
  t->busy = true;
  t->final_cost = -1;  // a task exists: its cost is Runway's to tell
  std::string jk = store_->keys().job(t->job.id), charged = std::to_string(t->estimated.value_or(0)),
              attempt = std::to_string(t->attempt);
  store_->Eval(ledger::kCreated, {t->account->key, jk}, {cfg_.daemon_id, t->task_id, charged, attempt},
               [this, slot = t->slot, gen = t->gen](redisReply* r) {
    FIND_OR_RETURN(t, slot, gen);
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements < 1)
      return RetryStep(t, runway::BackoffMs(t->step_errors, 100, 2000, NoHints(), Unit()));
    if (std::string_view(r->element[0]->str, r->element[0]->len) == "not_owner") {
      spdlog::error("job={} task={} lost ownership before its task id was recorded", t->job.id, t->task_id);
      return FreeTask(t);
    }
    OnLedgerReply(t->account, r, 1, 2);
    // Memory per task in flight: the body is in the raw job (re-read for a retry), and
    // the asset URLs were only needed for the checks.
    if (t->original_body.empty()) std::string().swap(t->job.body);
    std::vector<std::string>().swap(t->job.facts.asset_urls);
    t->step_errors = 0;
    t->step = Step::kPoll;
    runway::PollInput in;
    in.model = t->model;
    in.duration_s = static_cast<int>(t->job.facts.duration_s);
    in.status = runway::TaskStatus::kPending;
    in.created_at_ms = t->created_mono;
    in.now_ms = Mono();
    in.after_create = true;
    Schedule(t, runway::NextPollDelayMs(in, durations_, cfg_.poll), Grid::kNearest);
  });
}

// A cancel (an operator's, or the deadline's) is sent after one look at the task:
// DELETE also deletes a task that has finished, and one that finished since the last
// poll was charged, so deleting it would throw away a paid output and refund the user
// for it. A finished task's outcome stands; a live one is cancelled at once
// (OnTaskAnswer). A look that gets no usable answer does not hold the cancel back:
// the next step sends it, as it did before looks existed.
void Engine::DoPoll(Task* t) {
  if (t->cancel == CancelReason::kNone && Wall() >= t->deadline_ms) {
    spdlog::warn("job={} task={} deadline passed: cancelling upstream unless it has finished", t->job.id,
                 t->task_id);
    t->cancel = CancelReason::kDeadline;
  }
  if (t->cancel != CancelReason::kNone && !t->cancel_sent && t->cancel_looked) {
    t->step = Step::kCancel;
    return DoCancel(t);
  }
  Account* acct = t->account;
  // A slowed account holds polls, never past the deadline, and not a look or a cancel
  // that is due: a server's hint of up to an hour would hold the job that long.
  if (acct->slow_until_ms > Mono() && t->cancel == CancelReason::kNone)
    return Schedule(t, std::min(acct->slow_until_ms - Mono(), ToDeadlineMs(t)));
  // The poll budget: 100,000 tasks in flight must not storm the API. Past the budget,
  // a poll waits for the slot it booked (first come first served).
  if (!t->poll_paced) {
    const int64_t wait = acct->poll_pacer.Reserve(Mono(), cfg_.poll_rps_per_account);
    if (wait > 0) {
      t->poll_paced = true;
      return Schedule(t, wait);
    }
  }
  t->poll_paced = false;
  t->busy = true;
  ++t->polls;
  if (t->cancel != CancelReason::kNone) t->cancel_looked = true;
  Send("tasks_get", Request(t->account, "GET", "/v1/tasks/" + t->task_id),
              [this, slot = t->slot, gen = t->gen](runway::HttpResult&& r) {
    FIND_OR_RETURN(t, slot, gen);
    runway::Classification c =
        runway::ClassifyExchange({runway::Phase::kPoll, r.transport, r.status, r.body, t->task_id});
    if (c.slow_account) {
      Account* a = t->account;
      a->slow_until_ms = Mono() + runway::BackoffMs(a->slow_level++, Scaled(1000), Scaled(30000), r.hints, Unit());
    }
    if (c.verdict == runway::Verdict::kSuccess) {
      t->step_errors = 0;
      t->gone_once = false;
      return OnTaskAnswer(t, runway::ParseTaskAnswer(r.body));
    }
    if (c.verdict == runway::Verdict::kTaskGone) return OnTaskGone(t);
    if (c.verdict == runway::Verdict::kRetrySame && r.status == 200 && UnusablePoll(t, r.body, c.message)) return;
    if (c.verdict == runway::Verdict::kAccountProblem)
      spdlog::error("job={} task={} poll refused: {} (account {})", t->job.id, t->task_id, c.message,
                    t->account->cfg.name);
    RetryStep(t, RequestRetryMs(t, r.hints));
  });
}

// The wait before a poll or a cancel is sent again. A server's hint (Retry-After, up to
// an hour) is honoured up to the deadline; once a look or a cancel is due (the deadline
// passed, or an operator's cancel) it is capped like the backoff, so the eight DELETE
// attempts end the job in minutes, not hours.
int64_t Engine::RequestRetryMs(const Task* t, const runway::RetryHints& hints) {
  const int64_t cap = Scaled(30000);
  const int64_t d = runway::BackoffMs(t->step_errors, Scaled(1000), cap, hints, Unit());
  if (t->cancel != CancelReason::kNone) return std::min(d, cap);
  return std::min(d, ToDeadlineMs(t));
}

void Engine::OnTaskAnswer(Task* t, const runway::TaskAnswer& a) {
  int64_t now = Mono();
  if (!runway::IsTerminal(a.status)) {
    if (a.status == runway::TaskStatus::kRunning && t->running_since_mono == 0) t->running_since_mono = now;
    if (a.estimated_credits) t->estimated = a.estimated_credits;
    if (t->cancel != CancelReason::kNone) {
      t->step = Step::kCancel;
      if (!t->cancel_sent) return DoCancel(t);
      t->cancel_sent = false;  // DELETE said 404 but the task lives: send it again
      return RetryStep(t, Scaled(1000));
    }
    runway::PollInput in;
    in.model = t->model;
    in.duration_s = static_cast<int>(t->job.facts.duration_s);
    in.status = a.status;
    in.progress = a.progress.value_or(-1);
    in.created_at_ms = t->created_mono ? t->created_mono : now;
    in.now_ms = now;
    in.running_since_ms = t->running_since_mono;
    in.prev_progress = t->prev_progress;
    in.prev_poll_ms = t->prev_poll_mono;
    t->prev_progress = in.progress;
    t->prev_poll_mono = now;
    int64_t delay = runway::NextPollDelayMs(in, durations_, cfg_.poll);
    return Schedule(t, std::min(delay, ToDeadlineMs(t)), Grid::kNearest);
  }
  if (t->created_mono)
    durations_.Observe(t->model, static_cast<int>(t->job.facts.duration_s), now - t->created_mono);
  // How late the end may have been noticed: it happened after the previous poll.
  if (t->prev_poll_mono) m_->detection_delay->Observe(static_cast<double>(now - t->prev_poll_mono) / 1000.0);
  t->upstream_cost = a.cost_credits;
  bool succeeded = a.status == runway::TaskStatus::kSucceeded;
  if (succeeded && a.cost_credits) CheckPrice(t, *a.cost_credits);
  runway::Classification c = runway::ClassifyTaskFailure(succeeded, a.status == runway::TaskStatus::kCancelled,
                                                         a.failure_code, a.failure);
  if (a.cost_credits) t->final_cost = *a.cost_credits;
  if (c.verdict == runway::Verdict::kSuccess) return Succeed(t, a.output);
  if (c.verdict == runway::Verdict::kRetryNewTask && t->cancel == CancelReason::kNone &&
      t->attempt < cfg_.max_attempts && Wall() < t->deadline_ms) {
    spdlog::info("job={} task={} failed ({}), retrying with a new task", t->job.id, t->task_id, c.code);
    // The wait is spent in the retry set (any daemon takes the job back when due), so
    // a backoff costs no memory here (see HandOff, lost_replies.cc).
    t->retry_due_ms = Wall() + runway::BackoffMs(t->attempt - 1, Scaled(cfg_.retry_base_ms),
                                                 Scaled(cfg_.retry_cap_ms), NoHints(), Unit());
    t->step_errors = 0;
    t->step = Step::kHandOff;
    return HandOff(t);
  }
  Fail(t, c.error_class, c.code, c.message, c.error_class == ErrorClass::kCancelled ? "cancelled" : "failed");
}

void Engine::DoCancel(Task* t) {
  t->busy = true;
  t->cancel_sent = true;
  Send("tasks_delete", Request(t->account, "DELETE", "/v1/tasks/" + t->task_id),
              [this, slot = t->slot, gen = t->gen](runway::HttpResult&& r) {
    FIND_OR_RETURN(t, slot, gen);
    runway::Classification c = runway::ClassifyExchange({runway::Phase::kCancel, r.transport, r.status, r.body});
    if (c.verdict == runway::Verdict::kSuccess) {
      t->upstream_cost = 0;
      t->final_cost = 0;  // a cancelled unfinished task is not charged
      return EndCancelled(t, t->cancel == CancelReason::kOperator ? "cancelled by an operator"
                                                                  : "the deadline passed; the task was cancelled");
    }
    if (c.verdict == runway::Verdict::kTaskGone) {
      // Not proof of a cancellation: look at the task once more.
      t->step = Step::kPoll;
      return RetryStep(t, 0);
    }
    if (t->step_errors >= 8) return EndCancelled(t, "could not cancel the task upstream: " + c.message);
    t->cancel_sent = false;
    RetryStep(t, RequestRetryMs(t, r.hints));
  });
}

}  // namespace runwayd
