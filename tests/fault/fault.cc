// tests/fault/fault.cc — see fault.h: parameters, daemons, the job producer, logs and
// the simulator client. The audit after a run is audit.cc; the Redis proxy redis_proxy.cc.
#include "fault.h"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "runway/answer.h"

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

std::string SimCreateTaskFor(const harness::Stack& s, int64_t seed, const std::string& prompt, std::string* answer) {
  const std::string body = "{\"model\":\"gen4_turbo\",\"promptText\":\"" + prompt + "\",\"seed\":" +
                           std::to_string(seed) +
                           ",\"promptImage\":\"https://cdn.example.com/a.jpg\",\"ratio\":\"1280:720\",\"duration\":5}";
  if (SimCreate(s, "image_to_video", body, answer) != 200) return "";
  return runwayd::runway::ParseCreateAnswer(*answer).id;
}

}  // namespace fault
