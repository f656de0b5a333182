// queue/store.cc — typed Redis operations over the scripts (see store.h).
#include "queue/store.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "ledger/scripts.h"
#include "queue/scripts.h"

namespace runwayd {
namespace {

std::string_view Str(const redisReply* r) {
  if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)) return {r->str, r->len};
  return {};
}

bool IsError(const redisReply* r, const char* what) {
  if (r == nullptr) return true;
  if (r->type == REDIS_REPLY_ERROR) {
    spdlog::error("redis: {} failed: {}", what, std::string_view(r->str, r->len));
    return true;
  }
  return false;
}

std::vector<std::string> Strings(const redisReply* r) {
  std::vector<std::string> out;
  if (r && r->type == REDIS_REPLY_ARRAY) {
    out.reserve(r->elements);
    for (size_t i = 0; i < r->elements; ++i) out.emplace_back(Str(r->element[i]));
  }
  return out;
}

}  // namespace

JobStore::JobStore(RedisConn* cmd, RedisConn* blocking, Keys keys, Options opts)
    : cmd_(cmd), blocking_(blocking), keys_(std::move(keys)), opts_(opts) {}

void JobStore::LoadScripts() {
  for (const std::string* s : {&scripts::kTakeBatch, &scripts::kAdmit, &scripts::kUpdateOwned, &scripts::kFinish,
                               &scripts::kHeartbeat, &scripts::kAdopt, &scripts::kRouteCancel, &scripts::kTakeDue, &scripts::kTakeCancels, &ledger::kReserve, &ledger::kCreated,
                               &ledger::kSettle, &ledger::kReconcile}) {
    cmd_->Command({"SCRIPT", "LOAD", *s}, [this, s](redisReply* r) {
      if (!IsError(r, "SCRIPT LOAD")) sha_[s] = std::string(Str(r));
    });
  }
}

void JobStore::Eval(const std::string& script, const std::vector<std::string_view>& keys,
                    const std::vector<std::string_view>& args, RedisConn::Callback cb) {
  auto it = sha_.find(&script);
  static const std::string kNone;
  cmd_->Eval(script, it == sha_.end() ? kNone : it->second, keys, args, std::move(cb));
}

void JobStore::TakeBatch(int max, std::function<void(bool, std::vector<std::string>)> cb) {
  std::string jobs = keys_.jobs(), processing = keys_.processing(), n = std::to_string(max);
  Eval(scripts::kTakeBatch, {jobs, processing}, {n}, [cb = std::move(cb)](redisReply* r) {
    if (IsError(r, "take")) return cb(false, {});
    cb(true, Strings(r));
  });
}

void JobStore::BlockingTake(double timeout_s, std::function<void(bool, std::optional<std::string>)> cb) {
  std::string jobs = keys_.jobs(), processing = keys_.processing(), t = std::to_string(timeout_s);
  blocking_->Command({"BLMOVE", jobs, processing, "RIGHT", "LEFT", t}, [cb = std::move(cb)](redisReply* r) {
    if (IsError(r, "BLMOVE")) return cb(false, std::nullopt);
    if (r->type == REDIS_REPLY_NIL) return cb(true, std::nullopt);
    cb(true, std::string(Str(r)));
  });
}

void JobStore::Admit(std::string_view id, std::string_view raw, int64_t now_ms, uint64_t token,
                     const AdmitReservation* res, std::function<void(AdmitOutcome)> cb) {
  std::string k1 = keys_.job(id), k2 = keys_.done(id), k3 = keys_.inflight(), k4 = keys_.processing(),
              k5 = keys_.refunded(id), k6 = keys_.replayed(id), k7 = keys_.cancel_request(id),
              now = std::to_string(now_ms), tok = std::to_string(token);
  std::vector<std::string_view> keys = {k1, k2, k3, k4, k5, k6, k7};
  std::vector<std::string_view> args = {id, raw, keys_.daemon, now, tok, keys_.prefix};
  if (res) {
    keys.push_back(res->account_key);
    args.insert(args.end(), {res->account, res->model, res->cost, res->attempt, res->submitted_at});
  }
  Eval(scripts::kAdmit, keys, args, [cb = std::move(cb)](redisReply* r) {
    AdmitOutcome o;
    if (IsError(r, "admit") || r->type != REDIS_REPLY_ARRAY || r->elements < 2) return cb(o);
    std::string_view kind = Str(r->element[0]);
    if (kind == "ok" && r->elements >= 3) {
      o.kind = AdmitOutcome::kOk;
      o.refund_emitted = Str(r->element[1]) == "1";
      o.replayed = Str(r->element[2]) == "1";
      if (r->elements >= 7) {
        o.reserve_kind = std::string(Str(r->element[3]));
        o.reserve_estimate = std::string(Str(r->element[4]));
        o.reserve_low = std::string(Str(r->element[5]));
        o.reserve_account = std::string(Str(r->element[6]));
      }
    } else if (kind == "dup_running") {
      o.kind = AdmitOutcome::kDuplicateRunning;
      o.detail = std::string(Str(r->element[1]));
    } else if (kind == "gone") {
      o.kind = AdmitOutcome::kGone;
    } else if (kind == "cancelled") {
      o.kind = AdmitOutcome::kCancelled;
    } else if (kind == "dup_done") {
      o.kind = AdmitOutcome::kDuplicateDone;
      o.detail = std::string(Str(r->element[1]));
    }
    cb(o);
  });
}

void JobStore::Update(std::string_view id, const std::vector<std::pair<std::string_view, std::string>>& fields,
                      std::function<void(bool, bool)> cb) {
  std::string k = keys_.job(id);
  std::vector<std::string_view> args;
  args.reserve(1 + fields.size() * 2);
  args.push_back(keys_.daemon);
  for (const auto& [f, v] : fields) {
    args.push_back(f);
    args.push_back(v);
  }
  Eval(scripts::kUpdateOwned, {k}, args, [cb = std::move(cb)](redisReply* r) {
    if (IsError(r, "update")) return cb(false, false);
    cb(true, r->type == REDIS_REPLY_INTEGER && r->integer == 1);
  });
}

void JobStore::Finish(const FinishWrite& w, std::function<void(bool, int, AdmitOutcome)> cb) {
  std::string k1 = keys_.job(w.id), k2 = keys_.inflight(), k3 = w.reply_to.empty() ? keys_.results() : w.reply_to,
              k4 = keys_.refunds(), k5 = keys_.refunded(w.id), k6 = keys_.done(w.id), k7 = keys_.processing(),
              k8 = keys_.dead(), final_cost = std::to_string(w.final_cost);
  std::string done_ttl = std::to_string(opts_.done_ttl_s), refund_ttl = std::to_string(opts_.refund_ttl_s);
  const std::string& k9 = keys_.results();
  Eval(scripts::kFinish, {k1, k2, k3, k4, k5, k6, k7, k8, k9},
       {w.id, keys_.daemon, w.result, w.refund, done_ttl, w.raw, w.dead, refund_ttl, w.done_value,
        w.owned ? "1" : "0", final_cost, keys_.prefix, w.result_no_refund, w.result_replayed,
        w.result_no_refund_replayed, w.check_known ? "1" : "0"},
       [cb = std::move(cb), id = w.id, reply_to = w.reply_to](redisReply* r) {
         AdmitOutcome known;
         if (IsError(r, "finish")) return cb(false, 0, known);
         if (r->type == REDIS_REPLY_INTEGER) return cb(true, static_cast<int>(r->integer), known);
         if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_INTEGER) {
           spdlog::error("job={} reply_to {} holds something other than a list: its result went to the "
                         "default results list", id, reply_to);
           return cb(true, static_cast<int>(r->element[0]->integer), known);
         }
         if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
           known.kind = Str(r->element[0]) == "dup_done" ? AdmitOutcome::kDuplicateDone : AdmitOutcome::kDuplicateRunning;
           known.detail = std::string(Str(r->element[1]));
           return cb(true, kFinishKnown, known);
         }
         cb(true, -1, known);  // "not_owner"
       });
}

void JobStore::LoadProcessing(std::function<void(bool, std::vector<std::string>)> cb) {
  std::string k = keys_.processing();
  cmd_->Command({"LRANGE", k, "0", "-1"}, [cb = std::move(cb)](redisReply* r) {
    if (IsError(r, "LRANGE processing")) return cb(false, {});
    std::vector<std::string> v = Strings(r);
    std::reverse(v.begin(), v.end());  // oldest first
    cb(true, std::move(v));
  });
}

void JobStore::LoadInflight(std::function<void(bool, std::vector<InflightRecord>)> cb,
                            std::function<bool(const std::string&)> skip) {
  std::string k = keys_.inflight();
  cmd_->Command({"SMEMBERS", k}, [this, cb = std::move(cb), skip = std::move(skip)](redisReply* r) mutable {
    if (IsError(r, "SMEMBERS inflight")) return cb(false, {});
    std::vector<std::string> ids = Strings(r);
    if (skip) ids.erase(std::remove_if(ids.begin(), ids.end(), skip), ids.end());
    LoadRecords(std::move(ids), std::move(cb));
  });
}

void JobStore::LoadRecords(std::vector<std::string> ids, std::function<void(bool, std::vector<InflightRecord>)> cb) {
  if (ids.empty()) return cb(true, {});
  // One HGETALL per id, pipelined; the last reply delivers the whole set.
  struct Acc {
    std::vector<InflightRecord> recs;
    size_t left;
    bool ok = true;
    std::function<void(bool, std::vector<InflightRecord>)> cb;
  };
  auto acc = std::make_shared<Acc>();
  acc->recs.resize(ids.size());
  acc->left = ids.size();
  acc->cb = std::move(cb);
  for (size_t i = 0; i < ids.size(); ++i) {
    acc->recs[i].id = ids[i];
    std::string k = keys_.job(ids[i]);
    cmd_->Command({"HGETALL", k}, [acc, i](redisReply* r) {
      if (IsError(r, "HGETALL job")) {
        acc->ok = false;
      } else if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t j = 0; j + 1 < r->elements; j += 2)
          acc->recs[i].fields.emplace(std::string(Str(r->element[j])), std::string(Str(r->element[j + 1])));
      }
      if (--acc->left == 0) acc->cb(acc->ok, std::move(acc->recs));
    });
  }
}

void JobStore::Heartbeat(int64_t ttl_ms, int64_t now_ms, std::function<void(bool)> cb) {
  std::string k1 = keys_.heartbeat(), k2 = keys_.daemons(), ttl = std::to_string(ttl_ms), now = std::to_string(now_ms);
  Eval(scripts::kHeartbeat, {k1, k2}, {keys_.daemon, ttl, now},
       [cb = std::move(cb)](redisReply* r) { cb(!IsError(r, "heartbeat")); });
}

void JobStore::DropHeartbeat(std::function<void()> done) {
  std::string k = keys_.heartbeat();
  cmd_->Command({"DEL", k}, [done = std::move(done)](redisReply*) { done(); });
}

void JobStore::Adopt(int max, std::function<void(bool, std::vector<std::string>, std::vector<std::string>,
                                                 std::vector<std::string>)> cb) {
  std::string k = keys_.daemons(), n = std::to_string(max);
  Eval(scripts::kAdopt, {k}, {keys_.prefix, keys_.daemon, n}, [cb = std::move(cb)](redisReply* r) {
    if (IsError(r, "adopt") || r->type != REDIS_REPLY_ARRAY || r->elements != 3) return cb(false, {}, {}, {});
    cb(true, Strings(r->element[0]), Strings(r->element[1]), Strings(r->element[2]));
  });
}

void JobStore::TakeCancels(int max, std::function<void(bool, std::vector<std::string>)> cb) {
  std::string k1 = keys_.cancel(), k2 = keys_.my_cancel(), n = std::to_string(max);
  Eval(scripts::kTakeCancels, {k1, k2}, {n}, [cb = std::move(cb)](redisReply* r) {
    if (IsError(r, "take cancels") || r->type != REDIS_REPLY_ARRAY) return cb(false, {});
    std::vector<std::string> v = Strings(r);
    std::reverse(v.begin(), v.end());  // oldest first
    cb(true, std::move(v));
  });
}

void JobStore::AckCancels(size_t n) {
  std::string k = keys_.my_cancel(), end = std::to_string(-static_cast<int64_t>(n) - 1);
  cmd_->Command({"LTRIM", k, "0", end}, [](redisReply* r) { IsError(r, "LTRIM cancel"); });
}

void JobStore::TakeDue(int64_t now_ms, int max,
                       std::function<void(bool, std::vector<std::string>, std::vector<std::string>)> cb) {
  std::string k1 = keys_.retry(), k2 = keys_.inflight(), now = std::to_string(now_ms), n = std::to_string(max);
  Eval(scripts::kTakeDue, {k1, k2}, {now, n, keys_.prefix, keys_.daemon}, [cb = std::move(cb)](redisReply* r) {
    if (IsError(r, "take due retries") || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return cb(false, {}, {});
    cb(true, Strings(r->element[0]), Strings(r->element[1]));
  });
}

void JobStore::RouteCancel(const std::string& id, std::function<void(std::string_view)> cb) {
  std::string k1 = keys_.job(id), k2 = keys_.cancel_request(id);
  Eval(scripts::kRouteCancel, {k1, k2}, {keys_.prefix, keys_.daemon, id}, [cb = std::move(cb)](redisReply* r) {
    cb(IsError(r, "route cancel") ? std::string_view() : Str(r));
  });
}

void JobStore::PushEvent(std::string json) {
  std::string k = keys_.events();
  cmd_->Command({"LPUSH", k, json}, [](redisReply*) {});
  cmd_->Command({"LTRIM", k, "0", "9999"}, [](redisReply*) {});
}

}  // namespace runwayd
