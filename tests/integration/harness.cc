// tests/integration/harness.cc — see harness.h.
#include "harness.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace harness {

const char* kTestKey =
    "key_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

std::string Bin(const std::string& name) { return std::string(RUNWAYD_BIN_DIR) + "/" + name; }

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

size_t CountInLog(const std::string& path, const std::string& needle) {
  std::string text = ReadFile(path);
  size_t n = 0;
  for (size_t pos = 0; (pos = text.find(needle, pos)) != std::string::npos; pos += needle.size()) ++n;
  return n;
}

bool WaitLog(const std::string& path, const std::string& needle, std::chrono::milliseconds timeout) {
  return WaitFor([&] { return ReadFile(path).find(needle) != std::string::npos; }, timeout);
}

std::ostream& operator<<(std::ostream& o, const ShellRun& r) {
  return o << "rc=" << r.rc << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

ShellRun RunShell(const std::string& cmdline, const std::string& dir, const std::string& input) {
  static std::atomic<int> n{0};
  std::string where = dir;
  if (where.empty()) {
    char tmpl[] = "/tmp/runwayd-shell-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return {};
    where = tmpl;
  }
  const std::string base = where + "/shell-" + std::to_string(getpid()) + "-" + std::to_string(++n);
  WriteFile(base + ".in", input);
  // A subshell, so that the redirections cover every command of a list ("a; b").
  const std::string cmd = "(\n" + cmdline + "\n) <" + ShellQuote(base + ".in") + " 2>" + ShellQuote(base + ".err");
  ShellRun r;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (size_t got; (got = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, got);
    const int st = pclose(p);
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.err = ReadFile(base + ".err");
  }
  if (dir.empty() && std::system(("rm -rf " + ShellQuote(where)).c_str()) != 0) {}  // best effort
  return r;
}

bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

Process::Process(std::vector<std::string> argv, std::map<std::string, std::string> env, std::string log_path)
    : log_(std::move(log_path)) {
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (!env.count(kv.substr(0, kv.find('=')))) envs.push_back(kv);
  }
  for (auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<char*> av, ev;
  for (auto& a : argv) av.push_back(a.data());
  av.push_back(nullptr);
  for (auto& e : envs) ev.push_back(e.data());
  ev.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  int rc = posix_spawn(&pid_, av[0], &fa, nullptr, av.data(), ev.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
}

Process::~Process() {
  if (running()) {
    Signal(SIGTERM);
    if (Wait(std::chrono::seconds(5)) == -1) {
      Signal(SIGKILL);
      Wait(std::chrono::seconds(5));
    }
  }
}

bool Process::running() {
  if (exited_) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    status_ = st;
    return false;
  }
  return true;
}

void Process::Signal(int sig) {
  if (!exited_) kill(pid_, sig);
}

int Process::Wait(std::chrono::milliseconds timeout) {
  if (!WaitFor([this] { return !running(); }, timeout)) return -1;
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  return -WTERMSIG(status_);
}

Redis::Redis(int port, std::string password) : password_(std::move(password)) { Connect(port); }

void Redis::Connect(int port) {
  if (c_) redisFree(c_);
  c_ = redisConnect("127.0.0.1", port);
  if (c_ == nullptr || c_->err) throw std::runtime_error("cannot connect to redis");
  if (!password_.empty()) {
    auto* r = static_cast<redisReply*>(redisCommand(c_, "AUTH %s", password_.c_str()));
    if (r) freeReplyObject(r);
  }
}

Redis::~Redis() {
  if (c_) redisFree(c_);
}

std::unique_ptr<redisReply, void (*)(void*)> Redis::Cmd(const std::vector<std::string>& argv) {
  std::vector<const char*> a;
  std::vector<size_t> l;
  for (auto& s : argv) {
    a.push_back(s.data());
    l.push_back(s.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c_, static_cast<int>(a.size()), a.data(), l.data()));
  if (r == nullptr) {
    // Reconnect once (the test may have restarted redis-server).
    Connect(c_->tcp.port);
    r = static_cast<redisReply*>(redisCommandArgv(c_, static_cast<int>(a.size()), a.data(), l.data()));
    if (r == nullptr) throw std::runtime_error("redis command failed");
  }
  return {r, freeReplyObject};
}

long long Redis::Int(const std::vector<std::string>& argv) {
  auto r = Cmd(argv);
  return r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

std::vector<std::string> Redis::List(const std::string& key) {
  auto r = Cmd({"LRANGE", key, "0", "-1"});
  std::vector<std::string> out;
  for (size_t i = r->elements; i-- > 0;) out.emplace_back(r->element[i]->str, r->element[i]->len);
  return out;
}

void Redis::Push(const std::string& key, const std::string& value) { Cmd({"LPUSH", key, value}); }

Stack::Stack(const std::string& name) {
  char tmpl[] = "/tmp/runwayd-test-XXXXXX";
  dir_ = mkdtemp(tmpl);
  (void)name;
}

Stack::~Stack() {
  daemons_.clear();
  sim_.reset();
  redis_.reset();
  redis_proc_.reset();
  if (getenv("RUNWAYD_KEEP_TEST_DIR") == nullptr) std::system(("rm -rf '" + dir_ + "'").c_str());
}

void Stack::StartRedis(const std::string& extra_args) {
  if (redis_port_ == 0) redis_port_ = FreePort();
  std::vector<std::string> argv = {"/usr/bin/redis-server", "--port", std::to_string(redis_port_), "--bind",
                                   "127.0.0.1", "--dir", dir_, "--save", "", "--daemonize", "no"};
  if (!redis_password_.empty()) {
    argv.push_back("--requirepass");
    argv.push_back(redis_password_);
  }
  std::istringstream extra(extra_args);
  for (std::string w; extra >> w;) argv.push_back(w);
  redis_proc_ = std::make_unique<Process>(argv, std::map<std::string, std::string>{}, dir_ + "/redis.log");
  bool up = WaitFor([&] {
    redisContext* c = redisConnect("127.0.0.1", redis_port_);
    bool ok = c && !c->err;
    if (c) redisFree(c);
    return ok;
  }, std::chrono::seconds(10));
  if (!up) throw std::runtime_error("redis-server did not start: " + ReadFile(dir_ + "/redis.log"));
  redis_ = std::make_unique<Redis>(redis_port_, redis_password_);
}

void Stack::StopRedis(int sig) {
  redis_.reset();
  redis_proc_->Signal(sig);
  redis_proc_->Wait(std::chrono::seconds(10));
  redis_proc_.reset();
}

void Stack::StartSim(const SimOptions& o) {
  std::ostringstream t;
  t << "time_scale = " << o.time_scale << "\nseed = 7\n"
    << "[[account]]\nname = \"main\"\nkey = \"" << kTestKey << "\"\nbalance = " << o.balance << "\n";
  if (!o.account_limits.empty()) t << "limits = " << o.account_limits << "\n";
  t << o.extra_toml << "\n";
  WriteFile(dir_ + "/sim.toml", t.str());
  std::string port_file = dir_ + "/sim.port";
  sim_ = std::make_unique<Process>(
      std::vector<std::string>{Bin("runway-sim"), "--config", dir_ + "/sim.toml", "--port-file", port_file},
      std::map<std::string, std::string>{}, dir_ + "/sim.log");
  if (!WaitFor([&] { return !ReadFile(port_file).empty(); }, std::chrono::seconds(10)))
    throw std::runtime_error("runway-sim did not start: " + ReadFile(dir_ + "/sim.log"));
  sim_port_ = std::stoi(ReadFile(port_file));
}

size_t Stack::StartDaemon(const DaemonOptions& o) {
  std::ostringstream t;
  t << "[daemon]\nid = \"" << o.id << "\"\ntime_scale = " << o.time_scale << "\nshutdown_grace_ms = 2000\n"
    << "heartbeat_ttl_ms = " << o.heartbeat_ttl_ms << "\n" << o.daemon_keys << "\n"
    << "[redis]\nurl = \"redis://" << (redis_password_.empty() ? "" : ":" + redis_password_ + "@") << "127.0.0.1:"
    << redis_port_ << "\"\nprefix = \"runway\"\n"
    << "[log]\nformat = \"" << o.log_format << "\"\n"
    << "[upstream]\nbase_url = \"http://127.0.0.1:" << sim_port_ << "\"\n"
    << "[metrics]\nlisten = \"127.0.0.1:0\"\n"
    << "[[account]]\nname = \"main\"\nkey_env = \"RUNWAY_TEST_KEY\"\n"
    << o.extra_toml << "\n";
  std::string cfg = dir_ + "/" + o.id + ".toml";
  WriteFile(cfg, t.str());
  std::map<std::string, std::string> env = o.env;
  env["RUNWAY_TEST_KEY"] = kTestKey;
  daemons_.push_back(std::make_unique<Process>(std::vector<std::string>{Bin("runwayd"), "--config", cfg}, env,
                                               dir_ + "/" + o.id + ".log"));
  return daemons_.size() - 1;
}

bool Stack::WaitReady(size_t i, std::chrono::milliseconds timeout) {
  return WaitLog(daemons_.at(i)->log_path(), "ready: taking jobs", timeout);
}

int Stack::MetricsPort(size_t i) {
  std::string log = ReadFile(daemons_.at(i)->log_path());
  size_t p = log.find("/metrics");
  if (p == std::string::npos) return 0;
  size_t colon = log.rfind(':', p);
  return std::atoi(log.substr(colon + 1, p - colon - 1).c_str());
}

static size_t Collect(char* p, size_t s, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, s * n);
  return s * n;
}

bool Fetch(const std::string& url, std::string* out, const std::string& ca, const std::string* body) {
  CURL* e = curl_easy_init();
  if (e == nullptr) return false;
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
  if (!ca.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, ca.c_str());
  if (body) curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->c_str());
  CURLcode rc = curl_easy_perform(e);
  curl_easy_cleanup(e);
  return rc == CURLE_OK;
}

// A request to a local process of the stack; a transport error throws.
static std::string Http(int port, const std::string& path, const std::string* body) {
  std::string out;
  if (!Fetch("http://127.0.0.1:" + std::to_string(port) + path, &out, "", body))
    throw std::runtime_error("sim request failed: " + path);
  return out;
}

std::string Stack::MetricsGet(size_t i, const std::string& path) { return Http(MetricsPort(i), path, nullptr); }

std::string Stack::SimGet(const std::string& path) { return Http(sim_port_, path, nullptr); }
std::string Stack::SimPost(const std::string& path, const std::string& body) { return Http(sim_port_, path, &body); }

std::string Stack::Logs() const {
  std::string out;
  for (const char* f : {"sim.log", "d1.log", "d2.log"}) {
    std::string s = ReadFile(dir_ + "/" + f);
    if (s.size() > 6000) s = "..." + s.substr(s.size() - 6000);
    if (!s.empty()) out += std::string("---- ") + f + "\n" + s;
  }
  return out;
}

std::string MakeJob(const std::string& id, const std::string& endpoint, const std::string& model, int duration,
                    int64_t charged, int64_t seed, const std::string& prompt, const std::string& extra) {
  std::ostringstream b;
  b << "{\"model\":\"" << model << "\",\"promptText\":\"" << prompt << "\",\"seed\":" << seed;
  if (endpoint == "image_to_video") b << ",\"promptImage\":\"https://cdn.example.com/a.jpg\"";
  b << ",\"ratio\":\"1280:720\"";
  if (duration > 0) b << ",\"duration\":" << duration;
  b << "}";
  std::ostringstream j;
  j << "{\"v\":1,\"id\":\"" << id << "\",\"endpoint\":\"" << endpoint << "\",\"body\":" << b.str()
    << ",\"charged\":" << charged << ",\"user\":\"u_" << id << "\",\"meta\":{\"n\":" << seed << "}" << extra << "}";
  return j.str();
}

ShellRun RunCtl(const Stack& s, const std::vector<std::string>& args, const std::string& input) {
  std::string cmd = ShellQuote(Bin("runwayctl")) + " --redis " +
                    ShellQuote("redis://127.0.0.1:" + std::to_string(s.redis_port()));
  for (const auto& a : args) cmd += " " + ShellQuote(a);
  return RunShell(cmd, s.dir(), input);
}

}  // namespace harness
