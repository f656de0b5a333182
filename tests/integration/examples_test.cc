// tests/integration/examples_test.cc — the examples/ programs against a real stack
// (redis-server, runway-sim, runwayd; tests/integration/harness.h).
//
// For each language: its producer enqueues a job that succeeds and one that fails
// (exit 0 and 1, each printing its own result, taken from its own reply_to list); then
// the refund event runwayd wrote for the failure is pushed a second time (a duplicate
// delivery) and the refund consumer must apply it once, and again not at all after a
// restart (its idempotency record survives). scripts/deps installs every toolchain;
// Go also runs `go vet`, Ruby `ruby -wc`, PHP `php -l`. A missing runtime (a machine
// set up by hand) skips its test with the Debian package to install. Node's ioredis
// and Go's build cache live in the build directory.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <functional>

#include "harness.h"

using namespace harness;
using namespace std::chrono_literals;

namespace {

const std::string kSrc = RUNWAYD_SOURCE_DIR;
const std::string kCache = std::string(RUNWAYD_BIN_DIR) + "/../examples-cache";

using Proc = ShellRun;

std::string Quote(const std::string& s) { return ShellQuote(s); }

// Runs `cmd` with sh (stdin empty, at most `limit_s` seconds).
Proc Sh(const std::string& cmd, int limit_s = 120) {
  return RunShell("timeout " + std::to_string(limit_s) + " sh -c " + Quote(cmd));
}

bool Have(const std::string& tool) { return Sh("command -v " + Quote(tool) + " >/dev/null").rc == 0; }

// How to run one language's two programs.
struct Lang {
  std::string name;
  std::string enqueue, refunds;  // command prefixes
  // One option in the program's syntax ("--id x", "--id=x").
  std::function<std::string(const std::string&, const std::string&)> opt = [](const std::string& k,
                                                                               const std::string& v) {
    return " --" + k + " " + Quote(v);
  };
  std::string timeout = "30";  // --timeout value (Go takes a duration)
};

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  size_t b = 0;
  for (size_t e; (e = s.find('\n', b)) != std::string::npos; b = e + 1) out.push_back(s.substr(b, e - b));
  if (b < s.size()) out.push_back(s.substr(b));
  return out;
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

// The result a producer printed: its one line of stdout, parsed.
void CheckResult(const Proc& r, const std::string& id, const std::string& status, int64_t refund) {
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r;
  simdjson::dom::parser p;
  simdjson::dom::element e;
  ASSERT_FALSE(p.parse(lines[0]).get(e)) << r;
  EXPECT_EQ(std::string(e["id"].get_string().value_unsafe()), id) << r;
  EXPECT_EQ(std::string(e["status"].get_string().value_unsafe()), status) << r;
  if (status == "succeeded") {
    simdjson::dom::array out;
    ASSERT_FALSE(e["output"].get_array().get(out)) << r;
    EXPECT_GT(out.size(), 0u) << r;
  } else {
    int64_t credits = -1;
    EXPECT_FALSE(e["refund"]["credits"].get_int64().get(credits)) << r;
    EXPECT_EQ(credits, refund) << r;
  }
}

void Exercise(const Lang& l) {
  Stack s("examples-" + l.name);
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  auto& redis = s.redis();
  std::string env = "REDIS_URL=redis://127.0.0.1:" + std::to_string(s.redis_port()) + " RUNWAY_PREFIX=runway ";
  const std::string ok_id = l.name + "_ok", fail_id = l.name + "_fail", user = "u_" + l.name;
  auto job = [&](const std::string& id, const std::string& prompt) {
    return env + l.enqueue + l.opt("id", id) + l.opt("endpoint", "image_to_video") + l.opt("model", "gen4_turbo") +
           l.opt("image", "https://cdn.example.com/a.jpg") + l.opt("prompt", prompt) + l.opt("ratio", "1280:720") +
           l.opt("duration", "5") + l.opt("charged", "26") + l.opt("user", user) + l.opt("client", l.name) +
           l.opt("timeout", l.timeout);
  };

  // A job that succeeds: exit 0, its result from its own list runway:results:<client>.
  Proc r = Sh(job(ok_id, "a calm sea"));
  ASSERT_EQ(r.rc, 0) << r << s.Logs();
  CheckResult(r, ok_id, "succeeded", 0);
  // A job that fails upstream: exit 1, the failed result with the refund of `charged`.
  r = Sh(job(fail_id, "a calm sea sim:fail=ASSET.INVALID"));
  ASSERT_EQ(r.rc, 1) << r << s.Logs();
  CheckResult(r, fail_id, "failed", 26);
  EXPECT_EQ(redis.Int({"LLEN", "runway:results"}), 0) << "results went to the shared list";
  EXPECT_EQ(redis.Int({"LLEN", "runway:results:" + l.name}), 0);

  // The real refund event, delivered twice: applied once.
  std::vector<std::string> refunds = redis.List("runway:refunds");
  ASSERT_EQ(refunds.size(), 1u) << s.Logs();
  redis.Push("runway:refunds", refunds[0]);
  std::string db = s.dir() + "/" + l.name + "-refunds.db";
  std::string applied = "refunded 26 credits to " + user + " (" + fail_id + ")";
  r = Sh(env + l.refunds + l.opt("db", db) + l.opt("count", "2"));
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(Count(r.out, applied), 1u) << r;
  EXPECT_EQ(Lines(r.out).size(), 1u) << r;
  EXPECT_NE(r.err.find("already applied"), std::string::npos) << r;
  EXPECT_EQ(redis.Int({"LLEN", "runway:refunds"}), 0);
  // A restarted consumer remembers it.
  redis.Push("runway:refunds", refunds[0]);
  r = Sh(env + l.refunds + l.opt("db", db) + l.opt("count", "1"));
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(Count(r.out, "refunded"), 0u) << r;
  EXPECT_NE(r.err.find("already applied"), std::string::npos) << r;
}

}  // namespace

TEST(Examples, Shell) {
  for (const char* tool : {"bash", "redis-cli", "jq", "flock"})
    if (!Have(tool)) GTEST_SKIP() << tool << " not found: apt-get install redis-tools jq util-linux";
  Lang l{"shell", "bash " + Quote(kSrc + "/examples/shell/enqueue.sh"),
         "bash " + Quote(kSrc + "/examples/shell/refunds.sh")};
  Exercise(l);
}

TEST(Examples, Python) {
  // Debian's python3-redis installs for Debian's /usr/bin/python3; a python3 earlier
  // in PATH (pyenv, a venv) may have its own redis-py.
  std::string py;
  for (const char* cand : {"/usr/bin/python3", "python3"})
    if (Sh(std::string(cand) + " -c 'import redis' 2>/dev/null").rc == 0) {
      py = cand;
      break;
    }
  if (py.empty()) GTEST_SKIP() << "no python3 with redis-py: apt-get install python3 python3-redis";
  Lang l{"python", py + " " + Quote(kSrc + "/examples/python/enqueue.py"),
         py + " " + Quote(kSrc + "/examples/python/refunds.py")};
  Exercise(l);
}

TEST(Examples, Node) {
  if (!Have("node") || !Have("npm")) GTEST_SKIP() << "node or npm not found: apt-get install nodejs npm";
  // ioredis is installed in the build directory (cached), beside copies of the programs:
  // an ES module finds node_modules only next to itself or above.
  std::string dir = kCache + "/node";
  std::string src = kSrc + "/examples/node";
  ASSERT_EQ(Sh("mkdir -p " + Quote(dir) + " && cp " + Quote(src + "/enqueue.mjs") + " " + Quote(src + "/refunds.mjs") +
               " " + Quote(dir) + "/").rc, 0);
  if (ReadFile(dir + "/package.json") != ReadFile(src + "/package.json") ||
      ReadFile(dir + "/node_modules/ioredis/package.json").empty()) {
    Sh("cp " + Quote(src + "/package.json") + " " + Quote(dir) + "/ && rm -rf " + Quote(dir + "/node_modules"));
    Proc npm = Sh("cd " + Quote(dir) + " && npm install --no-audit --no-fund --loglevel=error", 300);
    if (npm.rc != 0) {
      Sh("rm -f " + Quote(dir + "/package.json"));  // try again next time
      GTEST_SKIP() << "npm install (ioredis) failed; is the npm registry reachable?\n" << npm;
    }
  }
  Lang l{"node", "node " + Quote(dir + "/enqueue.mjs"), "node " + Quote(dir + "/refunds.mjs")};
  Exercise(l);
}

TEST(Examples, Go) {
  if (!Have("go")) GTEST_SKIP() << "go not found: apt-get install golang-go (the examples use only the standard library)";
  std::string dir = kCache + "/go";
  // No module downloads: the examples need none (GOPROXY=off proves it).
  std::string env = "cd " + Quote(kSrc + "/examples/go") + " && GOCACHE=" + Quote(dir + "/cache") + " GOPATH=" +
                    Quote(dir + "/path") + " GOPROXY=off GOFLAGS=-mod=mod GO111MODULE=on ";
  Proc r = Sh(env + "gofmt -l . && " + env + "go vet ./... && " + env + "go build -o " + Quote(dir + "/bin") + "/ ./cmd/...", 300);
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out, "") << "gofmt -l lists unformatted files\n" << r;
  Lang l{"go", Quote(dir + "/bin/enqueue"), Quote(dir + "/bin/refunds")};
  l.timeout = "30s";
  Exercise(l);
}

TEST(Examples, Ruby) {
  if (!Have("ruby")) GTEST_SKIP() << "ruby not found: apt-get install ruby (the examples use only its standard library)";
  std::string d = kSrc + "/examples/ruby/";
  for (const char* f : {"resp.rb", "enqueue.rb", "refunds.rb"}) {
    Proc r = Sh("ruby -wc " + Quote(d + f));
    EXPECT_EQ(r.rc, 0) << f << "\n" << r;
    EXPECT_EQ(r.err, "") << f << "\n" << r;  // -w: no warnings
  }
  Lang l{"ruby", "ruby " + Quote(d + "enqueue.rb"), "ruby " + Quote(d + "refunds.rb")};
  Exercise(l);
}

TEST(Examples, Php) {
  if (!Have("php")) GTEST_SKIP() << "php not found: apt-get install php-cli (the examples use only its standard library)";
  std::string d = kSrc + "/examples/php/";
  for (const char* f : {"Resp.php", "enqueue.php", "refunds.php"}) {
    Proc r = Sh("php -l " + Quote(d + f));
    EXPECT_EQ(r.rc, 0) << f << "\n" << r;
  }
  Lang l{"php", "php " + Quote(d + "enqueue.php"), "php " + Quote(d + "refunds.php")};
  l.opt = [](const std::string& k, const std::string& v) { return " " + Quote("--" + k + "=" + v); };
  Exercise(l);
}
