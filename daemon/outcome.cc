// daemon/outcome.cc — the end of every job: one result, at most one refund.
//
// An outcome is decided once (Fail/Succeed), encoded once (BuildWrite), and then
// written by one Lua script (JobStore::Finish) that pushes the result, pushes the
// refund only if the per-job refund marker was not set yet, dead-letters what a
// replay could fix, releases the job record and removes it from the processing
// list. If Redis is away the task simply stays in memory in kFinish and the write is
// retried with backoff: that is the bounded buffer of outcomes (bounded by
// max_in_flight, because intake stops while Redis is away).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/engine.h"

namespace runwayd {

int TasksCreated(const Task& t) { return std::max(0, t.attempt_reached ? t.attempt : t.attempt - 1); }

void Engine::Fail(Task* t, ErrorClass cls, std::string code, std::string message, const char* status) {
  t->busy = false;
  t->outcome = std::make_unique<Outcome>(Outcome{status, cls, std::move(code), std::move(message), {}, {}});
  t->step = Step::kFinish;
  spdlog::info("job={} task={} {}: {} ({})", t->job.id.empty() ? "?" : t->job.id, t->task_id, status,
               ErrorClassName(cls), t->outcome->message);
  DoFinish(t);
}

void Engine::Succeed(Task* t, std::vector<std::string> output) {
  t->busy = false;
  t->outcome = std::make_unique<Outcome>(Outcome{"succeeded", ErrorClass::kUpstreamFailure, {}, {}, std::move(output), {}});
  t->step = Step::kFinish;
  spdlog::info("job={} task={} succeeded after {} poll(s), cost {}", t->job.id, t->task_id, t->polls,
               t->upstream_cost.value_or(-1));
  DoFinish(t);
}

// A 200 to a poll that cannot be used: logged, and polled again, unless it says the
// task SUCCEEDED without an output URL after kNoOutputLooks failed looks in a row (of
// any kind: step_errors counts them). Such a task is charged and final: polling it to
// the deadline would end in a DELETE of a charged task (and a charge of 0 in the
// ledger). It fails, refunded, with Runway's cost. Returns true when the job ended.
bool Engine::UnusablePoll(Task* t, std::string_view body, const std::string& why) {
  constexpr int kNoOutputLooks = 5;
  spdlog::warn("job={} task={} poll not used: {}", t->job.id, t->task_id, why);
  runway::TaskAnswer a = runway::ParseTaskAnswer(body);
  if (a.status != runway::TaskStatus::kSucceeded || !a.output.empty() || a.id != t->task_id ||
      t->step_errors + 1 < kNoOutputLooks)
    return false;
  t->upstream_cost = a.cost_credits;
  if (a.cost_credits) t->final_cost = *a.cost_credits;
  Fail(t, ErrorClass::kUpstreamFailure, "no_output", "Runway reported the task SUCCEEDED without an output URL");
  return true;
}

void Engine::FinishDuplicate(Task* t, const AdmitOutcome& dup) {
  bool running = dup.kind == AdmitOutcome::kDuplicateRunning;
  spdlog::warn("job={} duplicate of a job {}", t->job.id, running ? "in flight" : "already finished");
  t->busy = false;
  t->write.reset();  // a write built for another outcome (kFinish found the id known)
  t->outcome = std::make_unique<Outcome>(Outcome{
      "failed", ErrorClass::kInvalidJob, "duplicate_job",
      running ? (dup.detail.empty() ? std::string("duplicate job id: the first job with this id waits for a retry")
                                    : "duplicate job id: the first job with this id is in flight on daemon " + dup.detail)
              : "duplicate job id: the first job with this id already finished (" + dup.detail + ")",
      {}, t->job.id});
  t->step = Step::kFinish;
  DoFinish(t);
}

void Engine::BuildWrite(Task* t) {
  const Outcome& o = *t->outcome;
  const Job& j = t->job;
  auto w = std::make_unique<FinishWrite>();
  w->id = j.id;
  w->reply_to = j.reply_to;
  w->owned = t->admitted;
  w->final_cost = t->final_cost;
  if (!t->admitted) w->raw = j.raw;  // still in the processing list
  bool succeeded = o.status == "succeeded";
  bool duplicate = !o.duplicate_of.empty();
  // A job refused before admission never met kAdmit's duplicate rule: its finish
  // applies it, so a bad copy of a known id can neither refund nor add a result.
  w->check_known = !t->valid && !t->admitted && !duplicate && !j.id.empty();
  bool refund = !j.id.empty() && !succeeded && !duplicate && j.charged.value_or(0) > 0 && !t->refund_emitted_before &&
                std::find(cfg_.no_refund_classes.begin(), cfg_.no_refund_classes.end(),
                          ErrorClassName(o.error_class)) == cfg_.no_refund_classes.end();
  int64_t now = Wall();
  if (!j.id.empty()) {
    ResultEvent e;
    e.id = j.id;
    e.status = o.status;
    e.task_id = t->task_id;
    e.account = t->account ? std::string_view(t->account->cfg.name) : std::string_view();
    e.endpoint = j.endpoint;
    e.model = t->model.empty() ? std::string_view(j.facts.model) : std::string_view(t->model);
    e.output = o.output;
    e.cost_estimated = t->estimated;
    e.cost_upstream = t->upstream_cost;
    e.attempts = TasksCreated(*t);
    e.taken_at_ms = t->taken_at_ms;
    e.submitted_at_ms = t->submitted_at_ms;
    e.finished_at_ms = now;
    if (j.user) e.user = *j.user;
    e.meta = j.meta;
    e.error_class = o.error_class;
    e.error_code = o.code;
    e.error_message = o.message;
    if (refund) e.refund_credits = *j.charged;
    e.replayed = t->replayed;
    e.duplicate_of = o.duplicate_of;
    w->result = EncodeResult(e);
    if (refund) {  // kFinish pushes this one if the job's refund was emitted before
      e.refund_credits.reset();
      w->result_no_refund = EncodeResult(e);
    }
    if (!t->admitted && !duplicate && !e.replayed) {
      // Never admitted, so the replay marker was not read here: kFinish reads it and
      // pushes these instead when it existed.
      e.replayed = true;
      if (refund) e.refund_credits = *j.charged;
      w->result_replayed = EncodeResult(e);
      if (refund) {
        e.refund_credits.reset();
        w->result_no_refund_replayed = EncodeResult(e);
      }
    }
  }
  if (refund) {
    RefundEvent r;
    r.id = j.id;
    if (j.user) r.user = *j.user;
    r.credits = *j.charged;
    r.reason = o.error_class;
    r.meta = j.meta;
    w->refund = EncodeRefund(r);
  }
  // Dead letters: what ended without success that a replay might fix. Operator
  // cancellations and duplicates are not; invalid jobs are, once corrected.
  if (!succeeded && !duplicate && o.error_class != ErrorClass::kCancelled) {
    DeadEntry d;
    d.job = j.raw;
    d.id = j.id;
    d.reason = o.message;
    d.error_class = o.error_class;
    d.attempts = TasksCreated(*t);
    d.taken_at_ms = t->taken_at_ms;
    d.dead_at_ms = now;
    w->dead = EncodeDead(d);
  }
  // The dedup marker remembers every valid job that ended: admitted, or cancelled at its
  // admission (a copy of that one, pushed twice by its producer, would otherwise run after
  // the cancel and its refund). Not an invalid job, which may come back fixed, nor a
  // duplicate, which is not the job its id names.
  if (t->admitted || (t->valid && !duplicate))
    w->done_value = o.status + (succeeded ? "" : std::string(":") + ErrorClassName(o.error_class));
  t->write = std::move(w);
}

void Engine::DoFinish(Task* t) {
  if (!t->write) BuildWrite(t);
  t->busy = true;
  store_->Finish(*t->write, [this, slot = t->slot, gen = t->gen](bool ok, int refunded, AdmitOutcome known) {
    Task* t = Find(slot, gen);
    if (t == nullptr) return;
    t->busy = false;
    if (!ok) {
      if (t->step_errors == 0)
        spdlog::warn("job={} outcome kept in memory until Redis takes it", t->job.id.empty() ? "?" : t->job.id);
      return RetryStep(t, runway::BackoffMs(t->step_errors, 200, 5000, {}, Unit()));
    }
    if (refunded == kFinishKnown) return FinishDuplicate(t, known);  // nothing was written
    if (refunded < 0) spdlog::warn("job={} outcome not written: another daemon owns the job, or an earlier try wrote it", t->job.id);
    else CountFinish(t, refunded);
    if (t->holds_slot) InFlight(t, -1);
    if (t->holds_slot && refunded >= 0) {
      std::string model = t->model;
      FreeTask(t);
      return WakeSlotWaiter(model);
    }
    FreeTask(t);
  });
}

void Engine::AccountEvent(const char* type, const Account* a, std::vector<std::pair<std::string_view, int64_t>> ints,
                          std::vector<std::pair<std::string_view, std::string_view>> texts) {
  runwayd::AccountEvent e;
  e.type = type;
  e.account = a ? std::string_view(a->cfg.name) : std::string_view();
  e.at_ms = Wall();
  e.int_fields = std::move(ints);
  e.text_fields = std::move(texts);
  store_->PushEvent(EncodeAccountEvent(e));
}

// The end of a job whose cancel (an operator's, or the deadline's) is done, or could
// not be: an operator's ends "cancelled" (no dead entry), the deadline's a failure.
void Engine::EndCancelled(Task* t, std::string why) {
  if (t->cancel == CancelReason::kOperator)
    return Fail(t, ErrorClass::kCancelled, "cancelled", std::move(why), "cancelled");
  Fail(t, ErrorClass::kDeadlineExceeded, "deadline_exceeded", std::move(why), "failed");
}

// Runway's cost for a task against the price table (config [prices]): a difference
// means the table is out of date, and every estimate for that model is off.
void Engine::CheckPrice(Task* t, int64_t cost) {
  std::optional<int64_t> table = cfg_.prices.Cost(t->job.facts);
  if (!table || *table == cost) return;
  m_->PriceMismatch(t->model)->Inc();
  if (t->account && !t->account->price_mismatch_logged[t->model]) {
    t->account->price_mismatch_logged[t->model] = true;
    spdlog::warn("job={} task={} price table out of date for {}: Runway charged {} credits, the table says {} "
                 "(logged once per model; runwayd_price_mismatch_total counts them all)",
                 t->job.id, t->task_id, t->model, cost, *table);
  }
}

// A poll answered 404. After our own DELETE it is the cancel's proof. With a cancel due
// but not sent from here it is most likely this job's own DELETE, sent before a restart
// whose answer was lost with the process (the deadline comes from the record's
// taken_at, an operator's cancel is written into the record before it is acknowledged):
// the job ends as that cancel would have, its charge kept (-1) until a reading.
// Otherwise the task was deleted elsewhere, or Runway's answer is not yet consistent:
// giving up a live task refunds a job Runway still runs and charges, so a 404 is
// believed when a second look, one update period (5 s) later, says the same.
void Engine::OnTaskGone(Task* t) {
  if (t->cancel_sent) {
    t->final_cost = 0;
    return EndCancelled(t, "cancelled upstream");
  }
  if (t->cancel != CancelReason::kNone)
    return EndCancelled(t, "the task is gone upstream (cancelled before a restart, or deleted elsewhere)");
  if (!t->gone_once) {
    t->gone_once = true;
    spdlog::warn("job={} task={} poll answered 404: looking again before giving the task up", t->job.id, t->task_id);
    return RetryStep(t, std::min(Scaled(5000), ToDeadlineMs(t)));
  }
  Fail(t, ErrorClass::kUpstreamFailure, "task_not_found", "the task is gone upstream on two looks (deleted elsewhere)");
}

}  // namespace runwayd
