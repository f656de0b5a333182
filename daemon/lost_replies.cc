// daemon/lost_replies.cc — scripts that ran in Redis but whose reply never came back.
//
// RedisConn gives a NULL reply both for a command that was never sent and for one that
// ran before the connection died (a redis-server restart after the write, a network
// cut, the stall watchdog). A step that moves a job between owners cannot guess which,
// and either guess can cost money:
//   * assuming "not run" for the retry hand-off (kSettle with a due time) kept the job
//     here while it also waited, ownerless, in P:retry: this daemon's own kTakeDue then
//     took it back and a second task for the same attempt was created;
//   * assuming "nothing happened" for kAdopt or kTakeDue left jobs in our in-flight set
//     that no task held: no result, no refund, until a restart.
// So each such step either repeats until Redis answers (the script recognises a run it
// already did), or rereads what Redis holds for this daemon and loads what is missing:
// the processing list after a take (ResyncProcessing), the in-flight set after an
// adoption or a take of due retries (ResyncInflight).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_set>

#include "daemon/engine.h"

namespace runwayd {

// The failed attempt's hold ends and the job moves to P:retry (due at retry_due_ms) in
// one kSettle step; the task here is then freed (Settle's queued branch).
void Engine::HandOff(Task* t) {
  if (t->account == nullptr || !t->holds_slot) {
    // No hold to end (not expected for a task that ran): nothing moves in Redis, the
    // record stays in our in-flight set (a crash resumes it) and the wait is spent here.
    ++t->attempt;
    t->attempt_reached = false;
    t->task_id.clear();
    t->running_since_mono = t->prev_poll_mono = 0;
    t->prev_progress = -1;
    t->final_cost = 0;
    t->step = Step::kReserve;
    return Schedule(t, std::max<int64_t>(0, t->retry_due_ms - Wall()));
  }
  Settle(t, t->upstream_cost.value_or(-1), "retry", [this](Task* t2) {
    // No answer: the hand-off may have run. Ask again (kSettle answers a repeated
    // hand-off as it answered the first) rather than keep a job Redis may have let go.
    t2->step = Step::kHandOff;
    RetryStep(t2, runway::BackoffMs(t2->step_errors, 200, 5000, runway::RetryHints{}, Unit()));
  }, t->retry_due_ms);
}

// A create whose outcome is unknown, resubmitted (upstream.on_unknown_outcome =
// resubmit): the lost create's hold ends as charged before the next attempt reserves.
// Left in the record, that hold would be released by the next kReserve as never
// charged (it settles any stale hold at 0), and the estimate would stay one
// reservation high until the next reading: room for a job the account cannot pay.
// So the settle repeats until Redis answers (Settle leaves holds_slot set when it got
// no answer); a repeat of one that ran finds no hold and changes nothing.
void Engine::SettleCharged(Task* t, int64_t delay_ms) {
  t->step = Step::kSettleCharged;
  Settle(t, -2, "resubmit", [this, delay_ms](Task* t2) {
    if (t2->holds_slot) {
      if (t2->step_errors == 0)
        spdlog::warn("job={} Redis did not answer the settle of a create with an unknown outcome: repeating it "
                     "before the next attempt", t2->job.id);
      return RetryStep(t2, runway::BackoffMs(t2->step_errors, 200, 5000, runway::RetryHints{}, Unit()));
    }
    if (delay_ms == 0) return AfterAdmit(t2);
    t2->step = Step::kReserve;
    RetryStep(t2, delay_ms);
  });
}

// A take whose reply was lost may have moved jobs into our processing list that no
// task holds. Read the list back and take what nobody here accounts for. Nothing else
// moves jobs into the list meanwhile: no take is in flight (taking_), and the list and
// our admissions and finishes share one connection, so the snapshot is consistent
// with every reply handled before it. Raws adopted but not loaded yet count as held.
void Engine::ResyncProcessing() {
  taking_ = true;
  store_->LoadProcessing([this](bool ok, std::vector<std::string> raws) {
    taking_ = false;
    if (stopping_) return MaybeClose();  // what the list holds is for the next start
    if (!ok) {
      uv_timer_start(&intake_timer_, [](uv_timer_t* t) { static_cast<Engine*>(t->data)->MaybeTake(); }, 500, 0);
      return;
    }
    // A task whose admission got no answer may have removed its raw (kAdmit does, when
    // it runs) or not. With equal raws in the list (a producer's LPUSH sent twice) the
    // snapshot cannot say whether such a raw is that task's or a copy nobody holds:
    // counted as held, a copy taken with the lost reply was stranded with no result.
    // The task's own retry settles it (kAdmit knows its token): read the list again then.
    // An admission Redis keeps answering with an error (not a lost reply: a broken
    // account hash, say) must not stop intake for good: after kDoubtfulAdmits tries
    // (about half a minute of backoff) its task counts as holding its raw, as before.
    constexpr int kDoubtfulAdmits = 8;
    for (const Task& t : slab_) {
      if (t.step == Step::kAdmit && !t.admitted && t.step_errors > 0 && t.step_errors < kDoubtfulAdmits &&
          !t.job.raw.empty() &&
          std::find(raws.begin(), raws.end(), t.job.raw) != raws.end()) {
        uv_timer_start(&intake_timer_, [](uv_timer_t* h) { static_cast<Engine*>(h->data)->MaybeTake(); }, 500, 0);
        return;
      }
    }
    resync_processing_ = false;
    std::unordered_multiset<std::string_view> held;
    for (const Task& t : slab_)
      if (!t.job.raw.empty() && !t.admitted) held.insert(t.job.raw);  // freed slots are empty
    for (const auto& raw : adopted_raws_) held.insert(raw);
    std::vector<std::string> found;
    for (auto& raw : raws) {
      auto it = held.find(raw);
      if (it != held.end()) held.erase(it);
      else found.push_back(std::move(raw));
    }
    if (!found.empty())
      spdlog::warn("{} taken job(s) whose take reply was lost are in the processing list: taking them now",
                   found.size());
    for (auto& raw : found) OnTaken(std::move(raw));
    MaybeTake();
  });
}

// Loads the records of our in-flight set that no task here holds, as Recover() does at
// start. Runs from the retry timer (every 250 ms) while resync_inflight_ is set, so a
// Redis still away is simply tried again; never beside a take of due retries or an
// adoption, whose ids would otherwise be loaded twice (Resume() refuses a second task
// anyway). Ids in by_id_ are skipped: that task owns the record, or is admitting it (a
// kAdmit retry after a lost reply recognises its own admission).
void Engine::ResyncInflight() {
  if (!resync_inflight_ || resyncing_inflight_ || taking_due_ || adopting_ || stopping_ || !cmd_->connected())
    return;
  resyncing_inflight_ = true;
  auto held = [this](const std::string& id) {
    return by_id_.count(id) > 0 ||
           std::find(adopted_unloaded_.begin(), adopted_unloaded_.end(), id) != adopted_unloaded_.end();
  };
  store_->LoadInflight([this](bool ok, std::vector<InflightRecord> recs) {
    resyncing_inflight_ = false;
    if (!ok || stopping_) return;  // still set: the next tick tries again
    resync_inflight_ = false;
    if (!recs.empty())
      spdlog::warn("{} job(s) in this daemon's in-flight set had no task here (a reply was lost): resuming them",
                   recs.size());
    for (const auto& rec : recs) Resume(rec);
    MaybeTake();  // a processing-list resync waits for this one (see MaybeTake)
  }, held);
}

}  // namespace runwayd
