// tests/fault/fault.cc — see fault.h.
#include "fault.h"
#include "outcomes.h"
#include "sim_view.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace fault {

using namespace std::chrono_literals;

// ------------------------------------------------------------------ params

static int EnvInt(const char* name, int def) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : def;
}

Params Params::FromEnv(int jobs, int kills, int redis_restarts) {
  Params p;
  p.jobs = EnvInt("RUNWAYD_FAULT_JOBS", jobs);
  p.kills = EnvInt("RUNWAYD_FAULT_KILLS", kills);
  p.redis_restarts = EnvInt("RUNWAYD_FAULT_REDIS_RESTARTS", redis_restarts);
  const char* seed = std::getenv("RUNWAYD_FAULT_SEED");
  p.seed = seed && *seed ? std::strtoull(seed, nullptr, 10) : std::random_device{}();
  const char* push = std::getenv("RUNWAYD_FAULT_PUSH_S");
  p.push_s = push && *push ? std::atof(push) : 0;
  return p;
}

int64_t WallMs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// ------------------------------------------------------------------ daemons

FaultDaemons::~FaultDaemons() {
  procs_.clear();  // SIGTERM, then SIGKILL (harness::Process)
  dead_.clear();
}

void FaultDaemons::Start(const std::string& id, const FaultDaemonOptions& o) {
  if (procs_.count(id) && procs_.at(id)->running()) throw std::runtime_error("daemon " + id + " is running");
  if (procs_.count(id)) dead_.push_back(std::move(procs_.at(id)));
  std::ostringstream t;
  t << "[daemon]\nid = \"" << id << "\"\ntime_scale = " << o.time_scale << "\nshutdown_grace_ms = 2000\n"
    << "heartbeat_ttl_ms = " << o.heartbeat_ttl_ms << "\n"
    << "[redis]\nurl = \"redis://127.0.0.1:" << (o.redis_port ? o.redis_port : s_.redis_port())
    << "\"\nprefix = \"runway\"\n"
    << "[upstream]\nbase_url = \"http://127.0.0.1:" << s_.sim_port() << "\"\n" << o.upstream_toml << "\n"
    << "[[account]]\nname = \"main\"\nkey_env = \"RUNWAY_TEST_KEY\"\n"
    << "[log]\nformat = \"json\"\n"
    << "[metrics]\nlisten = \"127.0.0.1:0\"\n"
    << o.extra_toml << "\n";
  const std::string cfg = s_.dir() + "/" + id + ".toml";
  harness::WriteFile(cfg, t.str());
  ready_before_[id] = CountLines(log_path(id), "ready: taking jobs");
  procs_[id] = std::make_unique<harness::Process>(
      std::vector<std::string>{harness::Bin("runwayd"), "--config", cfg},
      std::map<std::string, std::string>{{"RUNWAY_TEST_KEY", harness::kTestKey}}, log_path(id));
}

bool FaultDaemons::WaitReady(const std::string& id, std::chrono::milliseconds timeout) {
  const size_t before = ready_before_[id];
  return harness::WaitFor(
      [&] { return CountLines(log_path(id), "ready: taking jobs") > before || !procs_.at(id)->running(); },
      timeout) &&
         procs_.at(id)->running();
}

int64_t FaultDaemons::Kill(const std::string& id) {
  auto& p = *procs_.at(id);
  const int64_t at = WallMs();
  p.Signal(SIGKILL);
  const int rc = p.Wait(10s);
  if (rc != -SIGKILL) ADD_FAILURE() << "daemon " << id << " did not die of SIGKILL: " << rc;
  return at;
}

int FaultDaemons::Stop(const std::string& id, std::chrono::milliseconds timeout) {
  auto& p = *procs_.at(id);
  p.Signal(SIGTERM);
  return p.Wait(timeout);
}

std::vector<std::string> FaultDaemons::ids() const {
  std::vector<std::string> out;
  for (const auto& [id, p] : procs_) out.push_back(id);
  return out;
}

std::string FaultDaemons::Tail(size_t bytes) const {
  std::string out;
  std::vector<std::string> files;
  for (const auto& [id, p] : procs_) files.push_back(id + ".log");
  files.push_back("sim.log");
  files.push_back("redis.log");
  for (const auto& f : files) {
    std::string s = harness::ReadFile(s_.dir() + "/" + f);
    if (s.size() > bytes) s = "..." + s.substr(s.size() - bytes);
    if (!s.empty()) out += "---- " + f + "\n" + s;
  }
  return out;
}

// ------------------------------------------------------------------ jobs

namespace {
struct Mix {
  const char* endpoint;
  const char* model;
  int duration;
};
const Mix kMix[] = {{"image_to_video", "gen4_turbo", 5},
                    {"text_to_video", "veo3.1_fast", 6},
                    {"image_to_video", "veo3.1", 8},
                    {"text_to_video", "gen4.5", 5}};
}  // namespace

std::vector<JobSpec> MakeJobs(int n, int64_t base) {
  std::vector<JobSpec> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    const Mix& m = kMix[i % 4];
    JobSpec j;
    j.seed = base + i;
    j.id = "j" + std::to_string(j.seed);
    j.charged = (i % 10 == 9) ? 0 : 26;
    j.json = harness::MakeJob(j.id, m.endpoint, m.model, m.duration, j.charged, j.seed);
    out.push_back(std::move(j));
  }
  return out;
}

Producer::Producer(int redis_port, const std::vector<JobSpec>& jobs, double seconds, int batches) {
  batches = std::max(1, std::min<int>(batches, static_cast<int>(jobs.size())));
  std::vector<std::vector<std::string>> b(batches);
  for (size_t i = 0; i < jobs.size(); ++i) b[i * batches / jobs.size()].push_back(jobs[i].json);
  th_ = std::thread([this, redis_port, b = std::move(b), seconds]() mutable { Run(redis_port, std::move(b), seconds); });
}

Producer::~Producer() {
  stop_ = true;
  if (th_.joinable()) th_.join();
}

void Producer::Join() {
  if (th_.joinable()) th_.join();
}

void Producer::Run(int port, std::vector<std::vector<std::string>> batches, double seconds) {
  static const char* kPushOnce =
      "if redis.call('SET', KEYS[1], '1', 'NX') then return redis.call('LPUSH', KEYS[2], unpack(ARGV)) end "
      "return -1";
  redisContext* c = nullptr;
  const auto start = std::chrono::steady_clock::now();
  for (size_t k = 0; k < batches.size() && !stop_; ++k) {
    // The schedule of the pushes is the test's load shape, not a correctness wait.
    std::this_thread::sleep_until(start + std::chrono::duration<double>(seconds * k / batches.size()));
    for (;;) {
      if (stop_) break;
      if (c == nullptr) {
        timeval tv{2, 0};
        c = redisConnectWithTimeout("127.0.0.1", port, tv);
        if (c == nullptr || c->err) {
          if (c) redisFree(c);
          c = nullptr;
          std::this_thread::sleep_for(100ms);
          continue;
        }
        timeval cmd_tv{10, 0};
        redisSetTimeout(c, cmd_tv);
      }
      std::vector<std::string> argv = {"EVAL", kPushOnce, "2", "fault:batch:" + std::to_string(k), "runway:jobs"};
      argv.insert(argv.end(), batches[k].begin(), batches[k].end());
      std::vector<const char*> a;
      std::vector<size_t> l;
      for (const auto& s : argv) {
        a.push_back(s.data());
        l.push_back(s.size());
      }
      auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(a.size()), a.data(), l.data()));
      const bool ok = r != nullptr && r->type == REDIS_REPLY_INTEGER;
      if (r) freeReplyObject(r);
      if (ok) break;
      redisFree(c);  // redis-server went away (or is loading): reconnect and send the batch again
      c = nullptr;
      std::this_thread::sleep_for(100ms);
    }
    pushed_ += batches[k].size();
  }
  if (c) redisFree(c);
  done_ = true;
}

// ------------------------------------------------------------------ invariants

namespace {

std::vector<std::string> Scan(harness::Redis& r, const std::string& pattern) {
  std::vector<std::string> keys;
  std::string cursor = "0";
  do {
    auto rep = r.Cmd({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) break;
    cursor = std::string(rep->element[0]->str, rep->element[0]->len);
    for (size_t i = 0; i < rep->element[1]->elements; ++i)
      keys.emplace_back(rep->element[1]->element[i]->str, rep->element[1]->element[i]->len);
  } while (cursor != "0");
  return keys;
}

}  // namespace

size_t CountResults(harness::Redis& r) { return static_cast<size_t>(std::max(0LL, r.Int({"LLEN", "runway:results"}))); }

size_t LeftInRedis(harness::Redis& r) {
  size_t n = static_cast<size_t>(std::max(0LL, r.Int({"LLEN", "runway:jobs"})));
  for (const char* pat : {"runway:processing:*", "runway:inflight:*", "runway:job:*"}) n += Scan(r, pat).size();
  return n;
}

std::string Audit::Summary() const {
  std::ostringstream o;
  o << "jobs " << jobs << ", results " << results << " (succeeded " << succeeded << ", failed " << failed
    << ", outcome_unknown " << outcome_unknown << " (" << unknown_created << " created upstream), retried " << retried << "), lost " << lost
    << ", duplicate results " << duplicate_results << ", foreign results " << foreign_results << ", creations "
    << creations << ", extra creations " << extra_creations << ", attempt/creation mismatches "
    << creation_mismatches << ", orphan creations " << orphan_creations << ", refunds " << refunds << " ("
    << refunded_credits << " credits), refunded twice " << refunds_twice << ", refund mismatches "
    << refund_mismatches << ", left in redis " << left_in_redis;
  for (const auto& v : violations) o << "\n  " << v;
  return o.str();
}

Audit AuditRun(harness::Stack& s, const std::vector<JobSpec>& jobs) {
  Audit a;
  auto& r = s.redis();
  auto note = [&a](std::string v) {
    if (a.violations.size() < 30) a.violations.push_back(std::move(v));
  };
  auto bad = [&a](const std::string& id) {
    if (a.bad_ids.size() < 30) a.bad_ids.push_back(id);
  };
  std::vector<std::string> unreadable;
  const std::vector<harness::ResultEvent> results = harness::ReadResults(r, "runway:results", &unreadable);
  for (auto& b : unreadable) note(b);
  a.foreign_results += unreadable.size();
  a.jobs = jobs.size();
  a.results = results.size();
  std::map<std::string, const JobSpec*> by_id;
  std::map<int64_t, const JobSpec*> by_seed;
  for (const auto& j : jobs) {
    by_id[j.id] = &j;
    by_seed[j.seed] = &j;
  }
  std::map<std::string, std::vector<const harness::ResultEvent*>> per;
  for (const auto& x : results) {
    if (!by_id.count(x.id)) {
      ++a.foreign_results;
      note("result for an id never pushed: " + x.id);
      continue;
    }
    per[x.id].push_back(&x);
  }

  // Creations per seed, from the simulator.
  std::map<int64_t, int64_t> made;
  {
    const std::string body = s.SimGet("/_sim/stats");
    harness::SimStats st;
    std::string error;
    if (!harness::ParseSimStats(body, &st, &error)) {
      note("bad /_sim/stats (" + error + "): " + body.substr(0, 200));
    } else {
      for (const auto& [seed, n] : st.creations) {
        made[seed] = n;
        a.creations += n;
        if (!by_seed.count(seed)) {
          ++a.orphan_creations;
          note("task created for seed " + std::to_string(seed) + " that no job has");
        }
      }
    }
  }

  // Refund events.
  std::map<std::string, int64_t> refunds;
  std::vector<std::string> bad_refunds;
  for (const auto& ev : harness::ReadRefunds(r, "runway:refunds", &bad_refunds)) {
    ++a.refunds;
    a.refunded_credits += ev.credits;
    if (refunds.count(ev.refund_id)) {
      ++a.refunds_twice;
      note("refund emitted twice for " + ev.refund_id);
    }
    refunds[ev.refund_id] = ev.credits;
  }
  for (const auto& b : bad_refunds) {
    ++a.refund_mismatches;
    note(b);
  }

  for (const auto& j : jobs) {
    auto it = per.find(j.id);
    if (it == per.end()) {
      ++a.lost;
      continue;
    }
    if (it->second.size() > 1) {
      ++a.duplicate_results;
      bad(j.id);
      std::string v = "job " + j.id + " has " + std::to_string(it->second.size()) + " results:";
      for (const harness::ResultEvent* x : it->second)
        v += " [" + x->status + " " + x->error_class + (x->duplicate_of.empty() ? "" : " duplicate") + " attempts " +
             std::to_string(x->attempts) + "]";
      note(v);
    }
    // The oldest result is the one the platform acted on (ReadResults: oldest first).
    const harness::ResultEvent& x = *it->second.front();
    const bool ok = x.status == "succeeded";
    const bool unknown = x.error_class == "outcome_unknown";
    ok ? ++a.succeeded : ++a.failed;
    if (unknown) ++a.outcome_unknown;
    if (x.attempts > 1) ++a.retried;
    const int64_t m = made.count(j.seed) ? made[j.seed] : 0;
    if (m > x.attempts) {
      a.extra_creations += static_cast<size_t>(m - x.attempts);
      bad(j.id);
      note("job " + j.id + ": " + std::to_string(m) + " tasks created for " + std::to_string(x.attempts) +
           " attempt(s), result " + x.status + " " + x.error_class);
    } else {
      // The attempts a result reports are the tasks created for the job, an unanswered
      // create (outcome_unknown) counted as one although it may not have made a task.
      bool fine;
      if (unknown && x.task_id.empty() && m == x.attempts) ++a.unknown_created;
      if (unknown) fine = m >= x.attempts - 1;
      else fine = m == x.attempts;
      if (!fine) {
        ++a.creation_mismatches;
        bad(j.id);
        note("job " + j.id + ": " + std::to_string(m) + " task(s) created, result reports " +
             std::to_string(x.attempts) + " attempt(s), " + x.status + " " + x.error_class +
             (x.task_id.empty() ? " without a task id" : " task " + x.task_id));
      }
    }
    const bool refund_due = !ok && x.duplicate_of.empty() && j.charged > 0;
    const auto rf = refunds.find(j.id);
    if (refund_due != (rf != refunds.end()) || (refund_due && rf->second != j.charged) ||
        (refund_due ? x.refund != j.charged : x.refund != -1)) {
      ++a.refund_mismatches;
      bad(j.id);
      note("job " + j.id + ": " + x.status + " " + x.error_class + ", charged " + std::to_string(j.charged) +
           ", refund event " + (rf == refunds.end() ? "none" : std::to_string(rf->second)) + ", result refund " +
           std::to_string(x.refund));
    }
  }
  for (const auto& [id, c] : refunds) {
    if (!by_id.count(id)) {
      ++a.refund_mismatches;
      note("refund for an id never pushed: " + id);
    }
  }
  a.left_in_redis = LeftInRedis(r);
  if (a.lost) note(std::to_string(a.lost) + " job(s) without a result:\n" + DescribeMissing(s, jobs));
  if (a.left_in_redis) note(std::to_string(a.left_in_redis) + " key(s)/entries left in Redis");
  return a;
}

std::string JobLogLines(const std::string& dir, const std::vector<std::string>& ids, size_t max_ids) {
  std::ostringstream o;
  std::vector<std::string> files;
  for (const char* f : {"d1.log", "d2.log", "d3.log"}) files.push_back(dir + "/" + f);
  for (size_t i = 0; i < ids.size() && i < max_ids; ++i) {
    o << "-- log lines of " << ids[i] << "\n";
    const std::string needle = "job=" + ids[i] + " ";
    for (const auto& f : files) {
      std::ifstream in(f);
      const std::string name = f.substr(f.rfind('/') + 1);
      for (std::string line; std::getline(in, line);)
        if (line.find(needle) != std::string::npos) o << name << ": " << line << "\n";
    }
  }
  return o.str();
}

std::string DescribeMissing(harness::Stack& s, const std::vector<JobSpec>& jobs, size_t max) {
  auto& r = s.redis();
  std::set<std::string> have;
  simdjson::dom::parser p;
  for (const auto& sj : r.List("runway:results")) {
    simdjson::dom::element e;
    std::string_view id;
    if (!p.parse(sj).get(e) && !e["id"].get_string().get(id)) have.insert(std::string(id));
  }
  std::map<std::string, std::vector<std::string>> lists;
  for (const auto& k : Scan(r, "runway:processing:*")) lists[k] = r.List(k);
  lists["runway:jobs"] = r.List("runway:jobs");
  std::ostringstream o;
  size_t n = 0;
  for (const auto& j : jobs) {
    if (have.count(j.id)) continue;
    if (++n > max) {
      o << "    ...\n";
      break;
    }
    o << "    " << j.id << ":";
    const std::string needle = "\"id\":\"" + j.id + "\"";
    for (const auto& [k, v] : lists)
      for (const auto& raw : v)
        if (raw.find(needle) != std::string::npos) o << " in " << k;
    auto h = r.Cmd({"HGETALL", "runway:job:" + j.id});
    if (h->type == REDIS_REPLY_ARRAY && h->elements) {
      o << " record{";
      for (size_t i = 0; i + 1 < h->elements; i += 2) {
        std::string f(h->element[i]->str, h->element[i]->len);
        if (f == "raw") continue;
        o << f << "=" << std::string(h->element[i + 1]->str, h->element[i + 1]->len) << " ";
      }
      o << "}";
    }
    for (const auto& k : Scan(r, "runway:inflight:*"))
      if (r.Int({"SISMEMBER", k, j.id}) == 1) o << " in " << k;
    o << "\n";
  }
  return o.str();
}

// ------------------------------------------------------------------ logs

std::vector<LogLine> ReadJsonLog(const std::string& path, std::vector<std::string>* other) {
  std::vector<LogLine> out;
  std::ifstream f(path);
  simdjson::dom::parser p;
  for (std::string line; std::getline(f, line);) {
    if (line.empty()) continue;
    simdjson::dom::element e;
    int64_t ts = 0;
    std::string_view lv, msg;
    if (line[0] != '{' || p.parse(line).get(e) || e["ts_ms"].get_int64().get(ts) || e["level"].get_string().get(lv) ||
        e["msg"].get_string().get(msg)) {
      if (other) other->push_back(line);
      continue;
    }
    out.push_back({ts, std::string(lv), std::string(msg)});
  }
  return out;
}

std::vector<std::string> ProcessProblems(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) {
    if (line.find("Sanitizer") != std::string::npos || line.find("runtime error:") != std::string::npos ||
        line.find("did not close cleanly") != std::string::npos || line.find("==ABORTING") != std::string::npos)
      out.push_back(line.substr(0, 300));
  }
  return out;
}

size_t CountLines(const std::string& path, const std::string& needle) {
  std::ifstream f(path);
  size_t n = 0;
  for (std::string line; std::getline(f, line);)
    if (line.find(needle) != std::string::npos) ++n;
  return n;
}

Percentiles Summarise(std::vector<int64_t> v) {
  Percentiles p;
  p.n = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  p.p50 = v[(v.size() - 1) / 2];
  p.max = v.back();
  return p;
}

void Report(const std::string& json) {
  std::cout << "[fault report] " << json << std::endl;
  if (const char* path = std::getenv("RUNWAYD_FAULT_REPORT"); path && *path) {
    std::ofstream f(path, std::ios::app);
    f << json << "\n";
  }
}

// ------------------------------------------------------------------ proxy

RedisProxy::RedisProxy(int upstream_port) : upstream_(upstream_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listen_fd_, 64) != 0)
    throw std::runtime_error("proxy: cannot listen");
  socklen_t len = sizeof a;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  if (pipe(wake_) != 0) throw std::runtime_error("proxy: pipe");
  th_ = std::thread([this] { Loop(); });
}

RedisProxy::~RedisProxy() {
  stop_ = true;
  (void)!write(wake_[1], "x", 1);
  if (th_.joinable()) th_.join();
  close(listen_fd_);
  close(wake_[0]);
  close(wake_[1]);
}

void RedisProxy::ArmDrop(const std::string& needle) {
  std::lock_guard<std::mutex> l(mu_);
  needle_ = needle;
  cut_ = false;
}

void RedisProxy::ArmCut(const std::string& needle) {
  std::lock_guard<std::mutex> l(mu_);
  needle_ = needle;
  cut_ = true;
}

void RedisProxy::Loop() {
  struct Pair {
    int c = -1, s = -1;
    bool drop = false;  // swallow the next server bytes, then cut the connection
  };
  std::vector<Pair> pairs;
  char buf[65536];
  auto close_pair = [](Pair& p) {
    if (p.c >= 0) close(p.c);
    if (p.s >= 0) close(p.s);
    p.c = p.s = -1;
  };
  auto write_all = [](int fd, const char* d, size_t n) {
    while (n > 0) {
      ssize_t w = ::send(fd, d, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      d += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  while (!stop_) {
    std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    for (auto& p : pairs) {
      fds.push_back({p.c, POLLIN, 0});
      fds.push_back({p.s, POLLIN, 0});
    }
    if (poll(fds.data(), fds.size(), 200) < 0) continue;
    const size_t polled = pairs.size();  // pairs accepted below have no pollfd yet
    for (size_t i = 0; i < polled; ++i) {
      Pair& p = pairs[i];
      const pollfd& pc = fds[2 + 2 * i];
      const pollfd& ps = fds[3 + 2 * i];
      if (p.c < 0) continue;
      if (pc.revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(p.c, buf, sizeof buf, 0);
        if (n <= 0) {
          close_pair(p);
          continue;
        }
        std::string_view chunk(buf, static_cast<size_t>(n));
        bool cut = false;
        {
          std::lock_guard<std::mutex> l(mu_);
          if (!needle_.empty() && chunk.find(needle_) != std::string_view::npos) {
            needle_.clear();
            if (cut_) cut = true;
            else p.drop = true;
            fired_ = true;
          }
        }
        if (cut) {  // the command never reaches Redis; nothing does until Heal()
          partitioned_ = true;
          for (auto& q : pairs) close_pair(q);
          break;
        }
        if (!write_all(p.s, buf, static_cast<size_t>(n))) {
          close_pair(p);
          continue;
        }
      }
      if (p.s >= 0 && (ps.revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = recv(p.s, buf, sizeof buf, 0);
        if (n <= 0 || p.drop) {  // the reply is lost with the connection
          close_pair(p);
          continue;
        }
        if (!write_all(p.c, buf, static_cast<size_t>(n))) close_pair(p);
      }
    }
    if (fds[0].revents & POLLIN) {
      int c = accept(listen_fd_, nullptr, nullptr);
      if (c >= 0 && partitioned_) {
        close(c);  // Redis is unreachable: the connection opens and closes at once
      } else if (c >= 0) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<uint16_t>(upstream_));
        if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
          pairs.push_back({c, s, false});
        } else {
          close(c);
          close(s);
        }
      }
    }
    pairs.erase(std::remove_if(pairs.begin(), pairs.end(), [](const Pair& p) { return p.c < 0; }), pairs.end());
  }
  for (auto& p : pairs) close_pair(p);
}

// ------------------------------------------------------------------ upstream

static size_t Collect(char* p, size_t s, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, s * n);
  return s * n;
}

long SimCreate(const harness::Stack& s, const std::string& endpoint, const std::string& body_json, std::string* body) {
  CURL* e = curl_easy_init();
  const std::string url = "http://127.0.0.1:" + std::to_string(s.sim_port()) + "/v1/" + endpoint;
  curl_slist* h = nullptr;
  h = curl_slist_append(h, (std::string("Authorization: Bearer ") + harness::kTestKey).c_str());
  h = curl_slist_append(h, "X-Runway-Version: 2024-11-06");
  h = curl_slist_append(h, "Content-Type: application/json");
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body_json.c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
  long status = 0;
  if (curl_easy_perform(e) == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(e);
  return status;
}

}  // namespace fault
