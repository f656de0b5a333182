// daemon/intake.cc — taking jobs from Redis, recovery of our own records, cancels.
//
// Intake alternates two fetches: a Lua batch (up to intake_batch jobs per round trip,
// never blocking) while the queue has jobs, and one BLMOVE with a 1 s timeout (a third
// of the heartbeat TTL if that is shorter) on the blocking connection when it is empty.
// Both move jobs into this daemon's processing list atomically, so a taken job is in
// Redis until its outcome is written.
// Intake pauses at max_in_flight and resumes as tasks finish.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "daemon/engine.h"

namespace runwayd {

void Engine::MaybeTake(bool tail_waited) {
  if (stopping_) return MaybeClose();  // it may have waited for a take that just ended
  if (!recovered_ || taking_ || closed_) return;
  // Resume only with room for a real batch: at the cap, one finish must not cost one
  // round trip of intake for one job. But never strand a short tail: room that stays
  // below a batch for kIntakeTailMs is filled with what fits (the last jobs of a burst
  // would otherwise wait for whole tasks to end, minutes with long ones).
  size_t room = cfg_.max_in_flight - std::min(cfg_.max_in_flight, live_tasks_);
  size_t want = std::min<size_t>(cfg_.intake_batch, std::max<size_t>(1, cfg_.max_in_flight / 10));
  if (room < want && !(room > 0 && live_tasks_ == 0) && !tail_waited) {
    if (room > 0 && !uv_is_active(reinterpret_cast<uv_handle_t*>(&intake_timer_)))
      uv_timer_start(&intake_timer_, [](uv_timer_t* t) { static_cast<Engine*>(t->data)->MaybeTake(true); },
                     kIntakeTailMs, 0);
    return;  // FreeTask() or the timer calls us again
  }
  if (room == 0) return;
  if (!cmd_->connected()) return;                  // OnRedisUp() calls us again
  // Records before raws, as in Recover() and AdoptOrphans(): a raw whose id is a record
  // not loaded yet would be admitted as a duplicate of itself and that record skipped.
  if (resync_processing_) return resync_inflight_ ? void() : ResyncProcessing();
  int n = static_cast<int>(std::min<size_t>(cfg_.intake_batch, room));
  taking_ = true;
  store_->TakeBatch(n, [this, n](bool ok, std::vector<std::string> jobs) {
    taking_ = false;
    for (auto& raw : jobs) OnTaken(std::move(raw));  // (none without a reply)
    if (stopping_) return MaybeClose();  // a stop waits for an outstanding take
    if (!ok) {
      resync_processing_ = true;  // the script may have moved jobs whose reply we lost
      uv_timer_start(&intake_timer_, [](uv_timer_t* t) { static_cast<Engine*>(t->data)->MaybeTake(); }, 500, 0);
      return;
    }
    if (static_cast<int>(jobs.size()) == n) {
      MaybeTake();
      return;
    }
    if (!blocking_->connected() || live_tasks_ >= cfg_.max_in_flight) return;
    taking_ = true;
    // A BLMOVE waiting in Redis is served even while this process is paused: it must end
    // before a peer can adopt our jobs and forget us (heartbeat_ttl_ms), or a job it moves
    // afterwards would sit in a processing list nobody adopts.
    const double block_s = std::min(1.0, static_cast<double>(cfg_.heartbeat_ttl_ms) / 3000.0);
    store_->BlockingTake(block_s, [this](bool ok2, std::optional<std::string> job) {
      taking_ = false;
      if (job) OnTaken(std::move(*job));
      if (stopping_) return MaybeClose();
      if (!ok2) {
        resync_processing_ = true;
        uv_timer_start(&intake_timer_, [](uv_timer_t* t) { static_cast<Engine*>(t->data)->MaybeTake(); }, 500, 0);
        return;
      }
      MaybeTake();
    });
  });
}

void Engine::OnTaken(std::string raw) {
  Task* t = NewTask();
  t->taken_at_ms = Wall();
  m_->jobs_taken->Inc();
  JobParse p = ParseJob(raw, rules_, &t->job);
  // The duplicate rule comes first, valid or not: a copy of a known id is not the
  // job that id names, so it must not refund it or answer for it (kFinish checks Redis).
  if (!t->job.id.empty() && by_id_.count(t->job.id)) {
    AdmitOutcome dup;
    dup.kind = AdmitOutcome::kDuplicateRunning;
    dup.detail = cfg_.daemon_id;
    return FinishDuplicate(t, dup);
  }
  if (!p.ok) {
    spdlog::warn("job={} invalid: {}", t->job.id.empty() ? "?" : t->job.id, p.error);
    return Fail(t, ErrorClass::kInvalidJob, "invalid_job", p.error);
  }
  t->valid = true;
  by_id_[t->job.id] = t->slot;
  t->step = Step::kAdmit;
  RunStep(t);
}

// Due retries come back from the retry set (see ledger/scripts.h kSettle) and resume
// like records after a restart: state "retry" counts the failed attempt as used.
void Engine::TakeDueRetries() {
  if (resync_inflight_) return ResyncInflight();  // (on this timer: see lost_replies.cc)
  if (stopping_ || !recovered_ || taking_due_ || resyncing_inflight_ || !cmd_->connected() ||
      live_tasks_ >= cfg_.max_in_flight)
    return;
  taking_due_ = true;
  int budget = static_cast<int>(std::min<size_t>(100, cfg_.max_in_flight - live_tasks_));
  store_->TakeDue(Wall(), budget, [this](bool ok, std::vector<std::string> ids, std::vector<std::string> cancelled) {
    // No reply: the script may have made due ids ours, which only our in-flight set
    // tells now (their cancels are in their records: cancelled=1).
    if (!ok) resync_inflight_ = true;
    if (!ok || ids.empty()) {
      taking_due_ = false;
      return;
    }
    store_->LoadRecords(ids, [this, ids, cancelled = std::move(cancelled)](bool ok2, std::vector<InflightRecord> recs) {
      taking_due_ = false;
      if (!ok2) {
        // They are ours in Redis: loaded with the adopted ones on the next beat.
        adopted_unloaded_.insert(adopted_unloaded_.end(), ids.begin(), ids.end());
        return;
      }
      for (const auto& rec : recs)
        Resume(rec, std::find(cancelled.begin(), cancelled.end(), rec.id) != cancelled.end());
    });
  });
}

void Engine::Resume(const InflightRecord& rec, bool cancelled) {
  auto field = [&](const char* k) -> std::string {
    auto it = rec.fields.find(k);
    return it == rec.fields.end() ? std::string() : it->second;
  };
  if (rec.fields.empty()) return;  // finished between SMEMBERS and HGETALL
  const bool cancel_requested = cancelled || field("cancelled") == "1";  // (kTakeDue keeps it in the record)
  if (auto it = by_id_.find(rec.id); it != by_id_.end() && slab_[it->second].admitted) {
    Task* held = &slab_[it->second];
    if (held->step != Step::kHandOff) {
      // Only our own hand-off comes back while its task is still here (below). Any other
      // task here is stale: this daemon lost the job while stopped or cut off longer
      // than its heartbeat TTL, and another daemon ran it on (a new task, a retry)
      // before it came back here by adoption or from the retry set. The record is the
      // job now; the stale task would poll a task the record no longer names and settle
      // holds that are not its own. It is dropped without a write, the record loaded.
      spdlog::warn("job={} task={} came back from another daemon: the task held here is stale, the record is "
                   "loaded", rec.id, held->task_id);
      if (held->holds_slot) InFlight(held, -1);
      FreeTask(held);
    } else {
      // Our own retry hand-off, which ran (its reply was lost) and was taken back: a
      // second task would create a second paid task for the same attempt. The live one
      // goes on (its next script sees the record as Redis has it); a cancel that came
      // with the record is its.
      spdlog::warn("job={} is already in flight here: its record is not loaded twice", rec.id);
      if (cancel_requested) CancelByOperator(held);
      return;
    }
  }
  Task* t = NewTask();
  t->admitted = true;
  std::string raw = field("raw");
  // Admitted before: a lower max_bytes or a dropped endpoint since must not fail it.
  JobParse p = ParseJob(raw, rules_.AsAdmitted(), &t->job);
  t->taken_at_ms = std::atoll(field("taken_at").c_str());
  if (t->taken_at_ms == 0) t->taken_at_ms = Wall();
  if (!p.ok || t->job.id != rec.id) {
    t->job.id = rec.id;
    return Fail(t, ErrorClass::kInvalidJob, "invalid_job", p.ok ? "record does not match its id" : p.error);
  }
  t->valid = true;
  by_id_[t->job.id] = t->slot;
  t->attempt = std::atoi(field("attempt").c_str());
  // A settled failure (retry) or an unanswered create (resubmit) used up its attempt:
  // the next create is a new one, as it would have been without the restart.
  if (field("state") == "retry" || field("state") == "resubmit") ++t->attempt;
  t->attempt_reached = field("state") == "task" || field("state") == "create_sent";
  t->submitted_at_ms = std::atoll(field("submitted_at").c_str());
  t->model = field("model");
  t->task_id = field("task_id");
  std::string est = field("estimated");
  if (!est.empty()) t->estimated = std::atoll(est.c_str());
  std::string state = field("state");
  std::string account = field("account");
  if (!field("body").empty()) {  // a fallback model replaced the producer's
    t->original_body = t->job.body;
    t->original_model = t->job.facts.model;
    t->job.body = field("body");
    t->job.facts.model = t->model;
    t->fallback_used = t->job.fallback_models.size();
  }
  t->holds_slot = field("hold_slot") == "1";
  t->replayed = field("replayed") == "1";
  t->final_cost = t->task_id.empty() ? (state == "create_sent" ? -2 : 0) : -1;
  t->account = AccountNamed(account);
  if (t->holds_slot) InFlight(t, +1);
  int64_t deadline_s = t->job.deadline_s.value_or(cfg_.default_deadline_s);
  t->deadline_ms = t->taken_at_ms + deadline_s * 1000;
  // A cancel is honoured in every state: a live task is cancelled after a look
  // (DoPoll), a resubmit stops before its create (DoReserve), a waiting job ends below.
  // (Flagged only: each branch below schedules the task itself.)
  if (cancel_requested) FlagOperatorCancel(t);
  if (state == "task" && !t->task_id.empty()) {
    if (t->account == nullptr)
      return Fail(t, ErrorClass::kAccountUnusable, "account_removed",
                  "the account that created this task is no longer configured");
    spdlog::info("job={} task={} resumed: polling the task created before the restart", t->job.id, t->task_id);
    t->step = Step::kPoll;
    t->created_mono = 0;  // unknown: the duration model learns nothing from this task
    return Schedule(t, 0);
  }
  if (state == "create_sent") {
    if (!cfg_.resubmit_unknown) {
      spdlog::warn("job={} outcome unknown: a create was sent before the restart and its answer was lost",
                   t->job.id);
      AccountEvent("outcome_unknown", t->account, {}, {{"job", t->job.id}});
      return Fail(t, ErrorClass::kOutcomeUnknown, "outcome_unknown",
                  "the daemon stopped after sending a create and before reading its answer; the task may "
                  "exist and be charged");
    }
    spdlog::warn("job={} resubmitting a create whose answer was lost (on_unknown_outcome = resubmit)", t->job.id);
    ++t->attempt;  // the lost one counts: it may have made a task
    t->attempt_reached = false;
    // Its hold ends as charged, as the in-flight resubmit's does (a reading corrects it):
    // settled by the next reservation it would count as never charged.
    return SettleCharged(t, 0);
  }
  if (cancel_requested)
    return Fail(t, ErrorClass::kCancelled, "cancelled",
                state == "retry" ? "cancelled by an operator while waiting for a retry"
                                 : "cancelled by an operator before a task was created",
                "cancelled");
  // Admitted (or refused, or resubmitted): go through the checks again and create.
  AfterAdmit(t);
}

// Cancels stay in our cancel list until every one of a batch is written where it
// outlives this process, then the batch is trimmed; if one could not be routed (no
// reply), the whole batch is read again. Every cancel goes through kRouteCancel, also
// one for a job loaded here: it writes cancelled=1 into our record, so a crash after
// the trim (its DELETE on the wire, or not sent yet) leaves the cancel to the next start
// or an adopter, which looks at the task and cancels it, or finds it gone
// (EndCancelled). Handling one twice is harmless: a task already cancelled is skipped,
// and a forward or a mark repeated changes nothing. At a stop nothing is trimmed.
void Engine::PollCancels() {
  if (stopping_ || polling_cancels_ || !cmd_->connected()) return;
  polling_cancels_ = true;
  store_->TakeCancels(100, [this](bool ok, std::vector<std::string> ids) {
    if (!ok || ids.empty()) {
      polling_cancels_ = false;
      return;
    }
    struct Batch {
      size_t n = 0, left = 1;  // left: routings outstanding, plus this loop
      bool failed = false;
    };
    auto b = std::make_shared<Batch>();
    b->n = ids.size();
    auto done = [this, b] {
      if (--b->left > 0) return;
      if (!b->failed && !stopping_) store_->AckCancels(b->n);
      polling_cancels_ = false;
    };
    for (const auto& id : ids) {
      if (auto it = by_id_.find(id); it != by_id_.end()) CancelByOperator(&slab_[it->second]);  // at once
      ++b->left;
      store_->RouteCancel(id, [this, id, b, done](std::string_view how) {
        auto it = by_id_.find(id);
        if (how.empty()) {
          b->failed = true;
        } else if (how == "forwarded") {
          spdlog::info("cancel: job={} forwarded to the daemon that holds it", id);
        } else if (how == "marked" && it == by_id_.end()) {
          spdlog::info("cancel: job={} is not running: it will be cancelled when taken", id);
        } else if (how == "mine") {
          // Ours in Redis: loaded here by now (a lost reply's resync), or the record
          // keeps the cancel for Resume().
          if (it != by_id_.end()) CancelByOperator(&slab_[it->second]);
          else spdlog::info("cancel: job={} is this daemon's but not loaded yet: cancelled when loaded", id);
        }
        done();
      });
    }
    done();
  });
}

}  // namespace runwayd
