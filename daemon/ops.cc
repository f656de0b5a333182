// daemon/ops.cc — what operators see and do: metrics, systemd notifications, reload.
//
// Once a second the loop beats the health clock (/healthz), tells systemd WATCHDOG=1
// while it is healthy (the loop turns, and Redis is reachable or has been away for
// less than a minute: a daemon that cannot reach Redis for longer is better
// restarted), and every fifth second reads the queue depths and account hashes in
// one pipelined burst for the gauges and the STATUS= line. SIGHUP re-reads the
// configuration file with the same command-line overrides; a bad file is refused
// with one log line and the running configuration stays. Reload changes accounts
// (keys, priorities, thresholds, limits), prices, polling, the job, retry and dedup
// settings and the log level; what is built into connections, the HTTP engine or
// intake at start (Redis, daemon.*, upstream transport, metrics address) needs a
// restart, and a reload that changes it names it in a warning (docs/operations.md).
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "daemon/engine.h"
#include "daemon/logging.h"

namespace runwayd {

void Engine::StartOps() {
  if (!cfg_.metrics_listen.empty()) {
    metrics::MetricsServerOptions o;
    std::string err;
    if (!metrics::ParseListenAddress(cfg_.metrics_listen, &o, &err) ||
        !(server_ = std::make_unique<metrics::MetricsServer>(&registry_, &health_, o))->Start(&err)) {
      spdlog::critical("metrics endpoint {}: {}", cfg_.metrics_listen, err);
      exit_code_ = 2;
      server_.reset();
      return RequestStop();
    }
    spdlog::info("metrics on http://{}:{}/metrics", o.address, server_->port());
  }
  health_.Beat();
  uv_timer_start(&status_timer_, [](uv_timer_t* h) { static_cast<Engine*>(h->data)->StatusTick(); }, 1000, 1000);
}

void Engine::StatusTick() {
  health_.Beat();
  int64_t now = Mono();
  if (cmd_->connected()) redis_down_since_ = 0;
  else if (redis_down_since_ == 0) redis_down_since_ = now;
  bool redis_ok = redis_down_since_ == 0;
  if (redis_ok || now - redis_down_since_ < 60000) sd_notify(0, "WATCHDOG=1");
  size_t usable = 0;
  for (auto& a : accounts_) usable += !a->disabled();
  if (stopping_) health_.SetNotReady("stopping");  // no more jobs taken: route nothing here
  else if (!recovered_) health_.SetNotReady("recovering");
  else if (!redis_ok) health_.SetNotReady("redis unreachable");
  else if (usable == 0) health_.SetNotReady("no usable account");
  else health_.SetReady();
  if (++status_ticks_ % 5 != 1 || !redis_ok || stopping_) return;
  std::string jobs = store_->keys().jobs(), dead = store_->keys().dead();
  cmd_->Command({"LLEN", jobs}, [this, usable](redisReply* r) {
    if (r == nullptr || r->type != REDIS_REPLY_INTEGER) return;
    m_->queue_depth->Set(static_cast<double>(r->integer));
    std::string status = fmt::format("STATUS=queue {}, in flight {}, accounts usable {}/{}", r->integer, live_tasks_,
                                     usable, accounts_.size());
    sd_notify(0, status.c_str());
  });
  cmd_->Command({"LLEN", dead}, [this](redisReply* r) {
    if (r && r->type == REDIS_REPLY_INTEGER) m_->dead_depth->Set(static_cast<double>(r->integer));
  });
  std::string retry = store_->keys().retry();
  cmd_->Command({"ZCARD", retry}, [this](redisReply* r) {
    if (r && r->type == REDIS_REPLY_INTEGER) m_->retry_depth->Set(static_cast<double>(r->integer));
  });
  size_t waiting = parked_.size();
  for (const auto& [model, q] : slot_waiters_) waiting += q.size();
  m_->wait_depth->Set(static_cast<double>(waiting));
  for (auto& ap : accounts_) {
    Account* a = ap.get();
    cmd_->Command({"HMGET", a->key, "reserved", "balance", "reconciled_at", "estimate"}, [this, a](redisReply* r) {
      if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 4) return;
      auto num = [&](size_t i) -> double {
        redisReply* e = r->element[i];
        return e->type == REDIS_REPLY_STRING ? std::atof(e->str) : 0;
      };
      m_->ReservedCredits(a->cfg.name)->Set(num(0));
      m_->LastBalance(a->cfg.name)->Set(num(1));
      if (num(2) > 0) m_->BalanceAge(a->cfg.name)->Set((static_cast<double>(Wall()) - num(2)) / 1000.0);
      m_->BalanceEstimate(a->cfg.name)->Set(num(3));
      m_->LowBalance(a->cfg.name)->Set(static_cast<double>(a->cfg.low_balance));
    });
  }
}

void Engine::Send(const char* endpoint, runway::HttpRequest req, runway::HttpEngine::Callback cb) {
  http_->Send(std::move(req), [this, endpoint, cb = std::move(cb)](runway::HttpResult&& r) {
    metrics::Counter*& c = upstream_counters_[{endpoint, r.status}];
    if (c == nullptr) c = m_->UpstreamRequests(endpoint, static_cast<int>(r.status));
    c->Inc();
    m_->upstream_latency->Observe(r.seconds);
    cb(std::move(r));
  });
}

void Engine::CountFinish(const Task* t, int refunded) {
  const Outcome& o = *t->outcome;
  const char* cls = o.status == "succeeded" ? "none" : ErrorClassName(o.error_class);
  std::string key = "finished/" + o.status + "/" + cls;
  metrics::Counter*& c = counters_[key];
  if (c == nullptr) c = m_->JobsFinished(o.status, cls);
  c->Inc();
  if (!t->task_id.empty() || t->polls > 0) m_->polls_per_task->Observe(t->polls);
  if (o.status != "succeeded" && o.error_class == ErrorClass::kOutcomeUnknown) m_->outcome_unknown->Inc();
  if (refunded == 1) {
    m_->Refunds(cls)->Inc();
    m_->RefundedCredits(cls)->Inc(t->job.charged.value_or(0));
  }
}

void Engine::InFlight(const Task* t, int delta) {
  if (t->account == nullptr) return;
  // A pair, not "account/model": names may contain '/' (account "a/b", model "c" is not
  // account "a", model "b/c").
  metrics::Gauge*& g = gauges_[{t->account->cfg.name, t->model}];
  if (g == nullptr) g = m_->JobsInFlight(t->account->cfg.name, t->model);
  g->Add(delta);
}

void Engine::Reload() {
  // After STOPPING=1, a READY=1 would tell systemd the daemon runs again; nothing a
  // reload changes matters to a stop.
  if (stopping_) {
    spdlog::warn("reload refused: stopping");
    return;
  }
  // Before recovery systemd still waits for the first READY=1, which means "taking
  // jobs": the file is applied then without a word to systemd.
  const bool announce = recovered_;
  if (announce) sd_notify(0, "RELOADING=1");
  Config next;
  std::string error;
  if (!LoadConfig(cli_, &next, &error)) {
    spdlog::error("reload refused, the running configuration stays: {}", error);
    if (announce) sd_notify(0, "READY=1");
    return;
  }
  // Settings built into connections, the HTTP engine or intake at start: named when
  // they changed, so a reload never seems to have applied them.
  std::vector<std::string_view> restart_only;
  auto changed = [&](bool differs, std::string_view key) {
    if (differs) restart_only.push_back(key);
  };
  changed(next.redis_url != cfg_.redis_url, "redis.url");
  changed(next.prefix != cfg_.prefix, "redis.prefix");
  changed(next.daemon_id != cfg_.daemon_id, "daemon.id");
  changed(next.max_in_flight != cfg_.max_in_flight, "daemon.max_in_flight");
  changed(next.intake_batch != cfg_.intake_batch, "daemon.intake_batch");
  changed(next.shutdown_grace_ms != cfg_.shutdown_grace_ms, "daemon.shutdown_grace_ms");
  changed(next.heartbeat_ttl_ms != cfg_.heartbeat_ttl_ms, "daemon.heartbeat_ttl_ms");
  changed(next.time_scale != cfg_.time_scale, "daemon.time_scale");
  changed(next.base_url != cfg_.base_url, "upstream.base_url");
  changed(next.api_version != cfg_.api_version, "upstream.api_version");
  changed(next.http.connect_timeout_ms != cfg_.http.connect_timeout_ms, "upstream.connect_timeout_ms");
  changed(next.http.request_timeout_ms != cfg_.http.request_timeout_ms, "upstream.request_timeout_ms");
  changed(next.http.max_host_connections != cfg_.http.max_host_connections, "upstream.max_host_connections");
  changed(next.http.ca_file != cfg_.http.ca_file, "upstream.ca_file");
  changed(next.metrics_listen != cfg_.metrics_listen, "metrics.listen");
  if (!restart_only.empty())
    spdlog::warn("reload: {} changed but change only at a restart", fmt::join(restart_only, ", "));
  SetupLogging(next.log_level, next.log_format);
  for (const auto& ac : next.accounts) {
    Account* a = AccountNamed(ac.name);
    if (a == nullptr) {
      accounts_.push_back(std::make_unique<Account>());
      a = accounts_.back().get();
      a->key = store_->keys().account(ac.name);
      spdlog::info("reload: account {} added", ac.name);
    }
    if (a->removed) {  // back in the configuration
      a->removed = false;
      spdlog::info("reload: account {} is configured again", ac.name);
    }
    bool new_key = a->cfg.key != ac.key;
    a->cfg = ac;
    if (new_key) {
      SetHeaders(a, ac.key, next.api_version);
      const bool was_disabled = a->disabled();
      a->key_rejected = false;
      a->flagged = false;
      if (was_disabled && !a->removed) {
        spdlog::info("reload: account {} has a new key: enabled again", ac.name);
        store_->conn()->Command({"HSET", a->key, "disabled", "0"}, [](redisReply*) {});
      }
    }
    a->next_reconcile_ms = 0;  // read limits and balance with the new settings
  }
  for (auto& x : accounts_) {
    bool kept = false;
    for (const auto& ac : next.accounts) kept = kept || ac.name == x->cfg.name;
    if (!kept && !x->removed) {
      spdlog::info("reload: account {} removed: no new jobs go to it", x->cfg.name);
      x->removed = true;
    }
  }
  cfg_.prices = next.prices;
  cfg_.poll = next.poll;
  cfg_.poll.time_scale = cfg_.time_scale;  // restart-only (named above), as everywhere else
  cfg_.checks = next.checks;
  cfg_.accounts = next.accounts;
  cfg_.max_attempts = next.max_attempts;
  cfg_.credit_wait_s = next.credit_wait_s;
  cfg_.reconcile_interval_s = next.reconcile_interval_s;
  cfg_.default_deadline_s = next.default_deadline_s;
  cfg_.no_refund_classes = next.no_refund_classes;
  cfg_.log_level = next.log_level;
  cfg_.log_format = next.log_format;
  // Read where they are used (each parse, create, retry, poll budget and finish):
  // jobs in flight simply meet the new values at their next step.
  cfg_.poll_rps_per_account = next.poll_rps_per_account;
  cfg_.max_create_retries = next.max_create_retries;
  cfg_.retry_base_ms = next.retry_base_ms;
  cfg_.retry_cap_ms = next.retry_cap_ms;
  cfg_.resubmit_unknown = next.resubmit_unknown;
  cfg_.extra_endpoints = next.extra_endpoints;
  cfg_.max_job_bytes = next.max_job_bytes;
  rules_.extra_endpoints = cfg_.extra_endpoints;
  rules_.max_bytes = cfg_.max_job_bytes;
  cfg_.dedup_window_s = next.dedup_window_s;
  store_->set_options(StoreOptions(cfg_));
  spdlog::info("reloaded the configuration: {} account(s)", next.accounts.size());
  WakeAll();
  if (announce) sd_notify(0, "READY=1");
}

}  // namespace runwayd
