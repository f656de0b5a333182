// daemon/cluster.cc — several daemons on one Redis: heartbeats and adoption.
//
// Each daemon refreshes P:daemon:<id> (TTL heartbeat_ttl_ms) every third of the TTL.
// Every beat, it also runs the adoption script: the jobs of any daemon whose key has
// expired move, in one Lua step, into this daemon's processing list and in-flight set,
// so two live daemons can never adopt the same job. Adopted in-flight jobs resume
// exactly like our own after a restart (Resume): a recorded task is polled again, an
// unanswered create becomes outcome_unknown, anything earlier is processed normally.
// A live daemon's jobs are never adopted however long Runway takes, because liveness
// is the heartbeat, not the age of a job.
//
// A heartbeat also lapses when Redis itself was away longer than the TTL (a restart):
// every daemon then looks dead to the first one back. So after losing Redis a daemon
// adopts nothing until it has been reconnected for one TTL plus the reconnect backoff
// cap, time for the live ones to reconnect and beat. (At its own start it adopts at
// once: recovery time after a crash is what adoption is for.) Should a daemon still be cut off long enough
// to be adopted, its late writes are fenced: admission needs the job in its own
// processing list, and every later script checks the record names it.
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "daemon/engine.h"

namespace runwayd {

void Engine::Beat() {
  if (closed_ || heartbeat_dropped_) return;  // while stopping it beats on; AdoptOrphans does not adopt
  store_->Heartbeat(cfg_.heartbeat_ttl_ms, Wall(), [this](bool ok) {
    if (!ok) spdlog::warn("heartbeat not written: other daemons may adopt this daemon's jobs");
    if (stopping_) MaybeClose();  // the stop may have been waiting for this reply
  });
  if (recovered_) AdoptOrphans();
}

void Engine::AdoptOrphans() {
  if (stopping_ || !recovered_ || adopting_ || resyncing_inflight_ || !cmd_->connected()) return;
  if (!adopted_unloaded_.empty() || !adopted_raws_.empty()) {
    // Adopted but not loaded yet (or Redis went away meanwhile): they are ours in Redis.
    adopting_ = true;
    store_->LoadRecords(adopted_unloaded_, [this](bool ok, std::vector<InflightRecord> recs) {
      adopting_ = false;
      if (!ok) return;
      adopted_unloaded_.clear();
      for (const auto& rec : recs) Resume(rec);
      std::vector<std::string> raws;
      raws.swap(adopted_raws_);
      for (auto& raw : raws) OnTaken(std::move(raw));
    });
    return;
  }
  if (live_tasks_ >= cfg_.max_in_flight || Mono() < adopt_after_mono_) return;
  int budget = static_cast<int>(std::min<size_t>(10000, cfg_.max_in_flight - live_tasks_));
  adopting_ = true;
  store_->Adopt(budget, [this](bool ok, std::vector<std::string> ids, std::vector<std::string> raws,
                               std::vector<std::string> dead) {
    adopting_ = false;
    if (!ok) {
      // No reply: the script may have moved a dead daemon's jobs into our in-flight set
      // and processing list, and nobody else will adopt them while we beat. Reread both.
      resync_inflight_ = resync_processing_ = true;
      return;
    }
    if (!ids.empty() || !raws.empty())
      spdlog::warn("adopted {} job(s) in flight and {} taken job(s) from stopped daemon(s) {}", ids.size(),
                   raws.size(), fmt::join(dead, ","));
    // Records first, then the taken raws: a raw whose id is an adopted in-flight job is
    // then recognised in memory as a copy, never admitted twice.
    if (ids.empty() && raws.empty()) return;
    adopted_unloaded_ = std::move(ids);
    adopted_raws_ = std::move(raws);
    AdoptOrphans();
  });
}

}  // namespace runwayd
