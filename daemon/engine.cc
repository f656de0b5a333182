// daemon/engine.cc — lifecycle, the task slab and the one timer (see engine.h).
//
// Start order: connect both Redis connections; on the first command connection,
// recover this daemon's own in-flight records and processing list (Recover), then
// start taking jobs, then tell systemd READY=1. Stop order (SIGINT/SIGTERM): stop
// taking and starting upstream work (a hold no create will use is given back; an
// operator's cancel not carried out yet is written into its record), let outcome
// writes, creates and cancels already on the wire finish for up to shutdown_grace_ms
// while the heartbeat goes on, drop the heartbeat once nothing is on the wire and no
// take waits in Redis (others may adopt what is left), then close curl (its sockets
// first), Redis and our own handles, so uv_run returns and uv_loop_close succeeds.
#include "daemon/engine.h"
#include "daemon/logging.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <ctime>

namespace runwayd {

JobStore::Options StoreOptions(const Config& cfg) {
  JobStore::Options so;
  so.done_ttl_s = cfg.dedup_window_s;
  // A refund marker must outlive the dedup window, or a late copy could be refunded again.
  so.refund_ttl_s = std::max(so.refund_ttl_s, cfg.dedup_window_s);
  return so;
}

Engine::Engine(uv_loop_t* loop, Config cfg, CliOverrides cli)
    : loop_(loop), cfg_(std::move(cfg)), cli_(std::move(cli)) {
  m_ = std::make_unique<metrics::DaemonMetrics>(&registry_);
  rules_.prefix = cfg_.prefix;
  rules_.max_bytes = cfg_.max_job_bytes;
  rules_.extra_endpoints = cfg_.extra_endpoints;
  for (const auto& ac : cfg_.accounts) {
    auto a = std::make_unique<Account>();
    a->cfg = ac;
    a->key = Keys{cfg_.prefix, cfg_.daemon_id}.account(ac.name);
    SetHeaders(a.get(), ac.key, cfg_.api_version);
    accounts_.push_back(std::move(a));
  }
  RedisConn::Options ro;
  ro.endpoint = cfg_.redis;
  ro.client_name = "runwayd:" + cfg_.daemon_id;
  cmd_ = std::make_unique<RedisConn>(loop_, ro);
  ro.client_name = "runwayd-fetch:" + cfg_.daemon_id;
  ro.stall_ms = 15000;  // above the blocking fetch timeout
  blocking_ = std::make_unique<RedisConn>(loop_, ro);
  store_ = std::make_unique<JobStore>(cmd_.get(), blocking_.get(), Keys{cfg_.prefix, cfg_.daemon_id},
                                      StoreOptions(cfg_));
  http_ = std::make_unique<runway::HttpEngine>(loop_, cfg_.http);
}

Engine::~Engine() {
  if (server_) server_->Stop();
  for (auto& a : accounts_) {
    curl_slist_free_all(a->headers);
    curl_slist_free_all(a->bare_headers);
  }
  for (auto* h : old_headers_) curl_slist_free_all(h);
}

void Engine::SetHeaders(Account* a, const std::string& api_key, const std::string& api_version) {
  for (curl_slist* h : {a->headers, a->bare_headers})
    if (h != nullptr) old_headers_.push_back(h);
  ++a->key_gen;
  const std::string auth = "Authorization: Bearer " + api_key;
  const std::string version = "X-Runway-Version: " + api_version;
  auto list = [&](std::initializer_list<const char*> extra) {
    curl_slist* l = nullptr;
    for (const char* h : {auth.c_str(), version.c_str(), "Accept: application/json"}) l = curl_slist_append(l, h);
    for (const char* h : extra) l = curl_slist_append(l, h);
    return l;
  };
  a->headers = list({"Content-Type: application/json", "Expect:"});  // Expect: no 100-continue round trip
  a->bare_headers = list({});
}

int64_t Engine::Wall() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int64_t Engine::Scaled(int64_t ms) const {
  return std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(ms) * cfg_.time_scale));
}

int Engine::Run() {
  Start();
  uv_run(loop_, UV_RUN_DEFAULT);
  return exit_code_;
}

void Engine::Start() {
  for (uv_timer_t* t : {&tick_, &intake_timer_, &cancel_timer_, &grace_timer_, &beat_timer_, &ledger_timer_, &retry_timer_,
                        &status_timer_}) {
    uv_timer_init(loop_, t);
    t->data = this;
  }
  for (uv_signal_t* s : {&sigint_, &sigterm_, &sighup_}) {
    uv_signal_init(loop_, s);
    s->data = this;
  }
  uv_prepare_init(loop_, &log_flush_);
  log_flush_.data = this;
  uv_prepare_start(&log_flush_, [](uv_prepare_t*) { FlushLogs(); });
  uv_unref(reinterpret_cast<uv_handle_t*>(&log_flush_));  // never what keeps the loop alive
  auto on_signal = [](uv_signal_t* s, int signum) {
    spdlog::info("signal {}: stopping", signum);
    static_cast<Engine*>(s->data)->RequestStop();
  };
  uv_signal_start(&sigint_, on_signal, SIGINT);
  uv_signal_start(&sigterm_, on_signal, SIGTERM);
  uv_signal_start(&sighup_, [](uv_signal_t* s, int) { static_cast<Engine*>(s->data)->Reload(); }, SIGHUP);
  StartOps();
  // A metrics address that cannot be bound stopped us already (exit 2, every handle
  // closed): connecting to Redis, recovering and starting timers on closed handles
  // after that would be a daemon half started by a configuration error.
  if (closed_) return;
  cmd_->OnUp([this] {
    // After an outage (not at our start: then the others' heartbeats are evidence), the
    // others' heartbeats may have lapsed only because Redis was away too: give them one
    // TTL plus the reconnect backoff cap to come back before adopting their jobs.
    if (redis_was_up_) adopt_after_mono_ = Mono() + cfg_.heartbeat_ttl_ms + RedisConn::Options{}.backoff_max_ms;
    store_->LoadScripts();
    OnRedisUp();
  });
  // Intake waits for both connections; whichever comes back last restarts it.
  cmd_->OnConnected([this] {
    redis_was_up_ = true;
    MaybeTake();
  });
  blocking_->OnConnected([this] { MaybeTake(); });
  cmd_->OnDown([this] { m_->redis_reconnects->Inc(); });
  cmd_->Start();
  blocking_->Start();
  uv_timer_start(&cancel_timer_, [](uv_timer_t* t) { static_cast<Engine*>(t->data)->PollCancels(); },
                 1000, 1000);
  spdlog::info("runwayd {} starting: redis {}, prefix {}, upstream {}, {} account(s)", cfg_.daemon_id,
               cfg_.redis.Describe(), cfg_.prefix, cfg_.base_url, accounts_.size());
}

void Engine::OnRedisUp() {
  if (!recovered_) Recover();
  MaybeTake();
}

void Engine::Recover() {
  if (recovered_ || started_) return;
  started_ = true;
  // The heartbeat goes first on the wire: from now on our processing list is ours.
  Beat();
  store_->LoadInflight([this](bool ok, std::vector<InflightRecord> recs) {
    if (!ok) {
      started_ = false;  // try again on the next connection
      return;
    }
    for (const auto& rec : recs) Resume(rec);
    store_->LoadProcessing([this, n = recs.size()](bool ok2, std::vector<std::string> raws) {
      if (!ok2) {
        started_ = false;
        return;
      }
      if (n || !raws.empty())
        spdlog::info("recovered {} job(s) in flight and {} taken job(s) from a previous run", n, raws.size());
      recovered_ = true;
      // Taken-but-not-admitted jobs are processed like new ones.
      for (auto& raw : raws) OnTaken(std::move(raw));
      // A SIGTERM during recovery: systemd heard STOPPING=1, and nothing will be taken.
      // (The timers below still start: the heartbeat goes on until MaybeClose drops it.)
      if (!stopping_) {
        sd_notify(0, "READY=1");
        spdlog::info("ready: taking jobs from {}", store_->keys().jobs());
      }
      uint64_t beat = static_cast<uint64_t>(cfg_.heartbeat_ttl_ms / 3);
      uv_timer_start(&beat_timer_, [](uv_timer_t* h) { static_cast<Engine*>(h->data)->Beat(); }, beat, beat);
      uv_timer_start(&ledger_timer_, [](uv_timer_t* h) { static_cast<Engine*>(h->data)->ReconcileDue(); }, 0, 1000);
      uv_timer_start(&retry_timer_, [](uv_timer_t* h) { static_cast<Engine*>(h->data)->TakeDueRetries(); }, 250, 250);
      AdoptOrphans();
      MaybeTake();
    });
  }, [this](const std::string& id) {
    // A pass after one that lost a reply: the records that pass resumed are its tasks'
    // (they may have reserved and created since). Resumed again, each would be dropped
    // as stale and its record, "create_sent" by then, failed as an unknown outcome.
    return by_id_.count(id) > 0;
  });
}

Task* Engine::NewTask() {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
    uint32_t gen = slab_[slot].gen + 1;
    slab_[slot] = Task{};
    slab_[slot].gen = gen;
  } else {
    slot = static_cast<uint32_t>(slab_.size());
    slab_.emplace_back();
  }
  Task* t = &slab_[slot];
  t->slot = slot;
  ++live_tasks_;
  return t;
}

void Engine::ForgetId(const Task* t) {
  auto it = by_id_.find(t->job.id);
  if (it != by_id_.end() && it->second == t->slot) by_id_.erase(it);
}

bool Engine::FlagOperatorCancel(Task* t) {
  if (t->outcome || t->cancel != CancelReason::kNone) return false;
  spdlog::info("job={} task={} cancel requested by an operator", t->job.id, t->task_id);
  t->cancel = CancelReason::kOperator;
  return true;
}

void Engine::CancelByOperator(Task* t) {
  if (FlagOperatorCancel(t) && !t->busy) Schedule(t, 0);
}

void Engine::FreeTask(Task* t) {
  ForgetId(t);
  uint32_t slot = t->slot, gen = t->gen + 1;
  slab_[slot] = Task{};  // releases the job's memory now
  slab_[slot].gen = gen;
  slab_[slot].slot = slot;
  free_slots_.push_back(slot);
  --live_tasks_;
  if (stopping_) MaybeClose();
  else MaybeTake();
}

Task* Engine::Find(uint32_t slot, uint32_t gen) {
  if (slot >= slab_.size()) return nullptr;
  Task* t = &slab_[slot];
  return t->gen == gen ? t : nullptr;
}

void Engine::Schedule(Task* t, int64_t delay_ms, Grid grid) {
  ++t->gen;  // invalidates any earlier timer entry of this task
  timers_.Push(GridDue(Mono(), delay_ms, grid), t->slot, t->gen);  // see timers.h
  Rearm();
}

void Engine::Rearm() {
  if (closed_) return;
  int64_t next = timers_.next_due();
  if (next == INT64_MAX || next >= armed_at_) return;
  armed_at_ = next;
  uint64_t delay = static_cast<uint64_t>(std::max<int64_t>(0, next - Mono()));
  uv_timer_start(&tick_, [](uv_timer_t* h) { static_cast<Engine*>(h->data)->OnTick(); }, delay, 0);
}

void Engine::OnTick() {
  armed_at_ = INT64_MAX;
  uv_update_time(loop_);
  int64_t now = Mono();
  TimerQueue::Entry e;
  // Bound the work per tick so a burst of due timers cannot starve I/O.
  for (int n = 0; n < 4096 && timers_.PopDue(now, &e); ++n) {
    Task* t = Find(e.slot, e.gen);
    if (t == nullptr || t->busy) continue;
    RunStep(t);
  }
  if (!timers_.empty()) {
    armed_at_ = INT64_MAX;
    Rearm();
  }
}

// While stopping: a hold that no create will use now. A reservation answered while
// stopping (kCreate: no new create goes out), or a refused create's hold whose settle got
// no answer (kReserve: the next reservation, which would release it, is not made now).
static bool HoldToGiveBack(const Task& t) {
  return t.account != nullptr && (t.step == Step::kCreate || (t.step == Step::kReserve && t.holds_slot));
}

void Engine::RunStep(Task* t) {
  if (stopping_) {
    // Give such a hold back and say so in the record, whose "create_sent" would make the
    // next owner take a create that never happened for an unknown outcome (and refund a
    // job it can run). Unanswered, it is repeated (the stop waits for it): the record may
    // still say "create_sent". A repeat of one that ran finds no hold.
    if (HoldToGiveBack(*t) && !t->busy && !closed_)
      return Settle(t, 0, "refused", [this](Task* t2) {
        if (t2->holds_slot) return RetryStep(t2, runway::BackoffMs(t2->step_errors, 100, 1000, {}, Unit()));
        t2->step = Step::kReserve;
        MaybeClose();
      });
    if (t->step != Step::kFinish && t->step != Step::kRecordTask) return;  // left for the next start
  }
  switch (t->step) {
    case Step::kAdmit: return DoAdmit(t);
    case Step::kReserve: return DoReserve(t);
    case Step::kCreate: return DoCreate(t);
    case Step::kRecordTask: return DoRecordTask(t);
    case Step::kPoll: return DoPoll(t);
    case Step::kCancel: return DoCancel(t);
    case Step::kFinish: return DoFinish(t);
    case Step::kHandOff: return HandOff(t);
    case Step::kSettleCharged: return SettleCharged(t, 0);
  }
}

void Engine::RequestStop() {
  if (stopping_) return;
  stopping_ = true;
  sd_notify(0, "STOPPING=1");
  health_.SetNotReady("stopping");  // at once, not at the next status tick
  spdlog::info("stopping: {} job(s) in flight stay recorded in Redis", live_tasks_);
  uv_timer_stop(&intake_timer_);
  uv_timer_stop(&cancel_timer_);
  uv_timer_stop(&ledger_timer_);
  uv_timer_stop(&retry_timer_);
  // The heartbeat goes on (Beat adopts nothing while stopping) until MaybeClose drops
  // it: a peer that adopted now would end a job whose create is still on the wire as an
  // unknown outcome, and this daemon's answer would then be fenced off unrecorded.
  uv_timer_start(&grace_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<Engine*>(t->data);
    spdlog::warn("stopping: grace period over, closing with writes pending");
    self->CloseAll();
  }, static_cast<uint64_t>(cfg_.shutdown_grace_ms), 0);
  for (Task& t : slab_) {
    if (t.job.raw.empty()) continue;  // a free slot
    if (HoldToGiveBack(t) && !t.busy) Schedule(&t, 0);  // now, not after a retry's delay (RunStep)
    // An operator's cancel not carried out yet lives only here (its list was trimmed):
    // kept in the record (kRouteCancel marks a job held here) for whoever resumes it.
    if (t.admitted && t.cancel == CancelReason::kOperator && !t.outcome)
      store_->RouteCancel(t.job.id, [](std::string_view) {});
  }
  MaybeClose();
}

void Engine::MaybeClose() {
  if (!stopping_ || closed_) return;
  // Wait only for what must not be cut: outcome writes, creates whose answer (a task
  // id) has not been recorded yet, reservations being given back (RunStep), and cancels
  // on the wire (Runway deletes the task at once; the next owner, which knows nothing of
  // the cancel, would find it gone and fail the job task_not_found).
  // (A scan, but only while stopping, over the few seconds of the grace period.)
  for (const Task& t : slab_) {
    if (t.job.raw.empty()) continue;  // a free slot
    if (t.step == Step::kFinish || t.step == Step::kRecordTask || HoldToGiveBack(t)) return;
    if (t.busy && t.step == Step::kCancel) return;
  }
  if (cmd_->pending() > 0) return;
  // A take still waiting in Redis (BLMOVE, up to a third of the heartbeat TTL, at most
  // 1 s) may yet move a job into our processing list: after the heartbeat went, a peer
  // may have adopted our lists and forgotten us, and that job would sit where nobody
  // looks. MaybeTake calls us again.
  if (taking_) return;
  if (recovered_ && !heartbeat_dropped_) {
    // Nothing of ours is on the wire any more: another daemon may adopt what we leave
    // as soon as it next looks. (If the grace period ends first, the heartbeat is left
    // to expire: a create cut off then stays "create_sent" for whoever takes it.)
    heartbeat_dropped_ = true;
    uv_timer_stop(&beat_timer_);
    store_->DropHeartbeat([this] { MaybeClose(); });
    return;
  }
  CloseAll();
}

void Engine::CloseAll() {
  if (closed_) return;
  closed_ = true;
  uv_timer_stop(&grace_timer_);
  if (server_) server_->Stop();  // joins its thread before the loop goes away
  auto close_handle = [this](uv_handle_t* h) {
    ++handles_to_close_;
    uv_close(h, [](uv_handle_t* hh) { --static_cast<Engine*>(hh->data)->handles_to_close_; });
  };
  for (uv_timer_t* t : {&tick_, &intake_timer_, &cancel_timer_, &grace_timer_, &beat_timer_, &ledger_timer_, &retry_timer_,
                        &status_timer_})
    close_handle(reinterpret_cast<uv_handle_t*>(t));
  for (uv_signal_t* s : {&sigint_, &sigterm_, &sighup_}) close_handle(reinterpret_cast<uv_handle_t*>(s));
  close_handle(reinterpret_cast<uv_handle_t*>(&log_flush_));
  // curl first: its completion handlers may still want Redis; they see stopping_.
  http_->Close([this] {
    cmd_->Close([] {});
    blocking_->Close([] {});
  });
  spdlog::info("stopped");
}

}  // namespace runwayd
