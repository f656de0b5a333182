// daemon/config.cc — see config.h. Every key is checked for type and range here so
// nothing later has to; unknown keys are errors (a typo must not silently fall back
// to a default that spends money).
#include "daemon/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "daemon/metrics_server.h"
#include "queue/events.h"

namespace runwayd {
namespace {

struct Reader {
  std::string* error;
  bool ok = true;

  bool Fail(const std::string& msg) {
    if (ok) *error = msg;
    ok = false;
    return false;
  }
  // Rejects keys of `t` not in `known`.
  void Known(const toml::table& t, const std::string& where, std::initializer_list<std::string_view> known) {
    for (auto&& [k, v] : t) {
      (void)v;
      bool found = false;
      for (auto kk : known) found = found || k.str() == kk;
      if (!found) Fail("config: unknown key " + where + std::string(k.str()));
    }
  }
  template <typename T>
  void Int(const toml::table& t, std::string_view key, const std::string& where, T* out, int64_t lo, int64_t hi) {
    auto n = t.get(key);
    if (!n) return;
    // value<int64_t>() would read a boolean as 0 or 1; a float with an integral value is
    // still an integer.
    auto v = n->is_boolean() ? std::nullopt : n->value<int64_t>();
    if (!v || *v < lo || *v > hi) {
      Fail(fmt::format("config: {}{} must be an integer in {}..{}", where, key, lo, hi));
      return;
    }
    *out = static_cast<T>(*v);
  }
  void Double(const toml::table& t, std::string_view key, const std::string& where, double* out, double lo, double hi) {
    auto n = t.get(key);
    if (!n) return;
    auto v = n->value<double>();
    // Written so that NaN (TOML's `nan`), which no comparison holds for, fails too.
    if (!v || !(*v >= lo && *v <= hi)) {
      Fail(fmt::format("config: {}{} must be a number in {}..{}", where, key, lo, hi));
      return;
    }
    *out = *v;
  }
  void Str(const toml::table& t, std::string_view key, const std::string& where, std::string* out) {
    auto n = t.get(key);
    if (!n) return;
    auto v = n->value<std::string>();
    if (!v) {
      Fail(fmt::format("config: {}{} must be a string", where, key));
      return;
    }
    *out = *v;
  }
  void Bool(const toml::table& t, std::string_view key, const std::string& where, bool* out) {
    auto n = t.get(key);
    if (!n) return;
    auto v = n->value_exact<bool>();  // value<bool>() would read any integer as a boolean
    if (!v) {
      Fail(fmt::format("config: {}{} must be true or false", where, key));
      return;
    }
    *out = *v;
  }
  void StrList(const toml::table& t, std::string_view key, const std::string& where, std::vector<std::string>* out) {
    auto n = t.get(key);
    if (!n) return;
    auto* arr = n->as_array();
    if (!arr) {
      Fail(fmt::format("config: {}{} must be an array of strings", where, key));
      return;
    }
    out->clear();
    for (auto&& e : *arr) {
      auto s = e.value<std::string>();
      if (!s) {
        Fail(fmt::format("config: {}{} must be an array of strings", where, key));
        return;
      }
      out->push_back(*s);
    }
  }
  const toml::table* Table(const toml::table& t, std::string_view key) {
    auto n = t.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) {
      Fail(fmt::format("config: [{}] must be a table", key));
      return nullptr;
    }
    return n->as_table();
  }
};

bool ReadKey(const AccountConfig& a, const std::string& key_env, const std::string& key_file, std::string* key,
             std::string* error) {
  if (!key_env.empty() && !key_file.empty()) {
    *error = "config: account " + a.name + ": set key_env or key_file, not both";
    return false;
  }
  if (!key_file.empty()) {
    std::string path = key_file;
    const char* creds = getenv("CREDENTIALS_DIRECTORY");
    if (path[0] != '/' && creds) path = std::string(creds) + "/" + path;
    std::ifstream f(path);
    if (!f) {
      *error = "config: account " + a.name + ": cannot read key_file " + path;
      return false;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    *key = ss.str();
  } else {
    std::string var = key_env.empty() ? "RUNWAYML_API_SECRET" : key_env;
    const char* v = getenv(var.c_str());
    if (v == nullptr || *v == '\0') {
      *error = "config: account " + a.name + ": environment variable " + var + " is not set";
      return false;
    }
    *key = v;
  }
  while (!key->empty() && isspace(static_cast<unsigned char>(key->back()))) key->pop_back();
  if (key->empty()) {
    *error = "config: account " + a.name + ": the API key is empty";
    return false;
  }
  for (unsigned char c : *key) {
    if (c < 0x21 || c > 0x7e) {
      *error = "config: account " + a.name + ": the API key contains a character not allowed in a header";
      return false;
    }
  }
  return true;
}

}  // namespace

bool BaseUrlAllowed(const std::string& url, std::string* error) {
  if (url.rfind("https://", 0) == 0 && url.size() > 8) return true;
  if (url.rfind("http://", 0) == 0) {
    std::string host = url.substr(7);
    host = host.substr(0, host.find_first_of(":/"));
    in_addr a{};
    if (inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127) return true;
    *error = "config: upstream.base_url: plain http:// is only allowed to 127.0.0.0/8";
    return false;
  }
  *error = "config: upstream.base_url must start with https://";
  return false;
}

bool LoadConfig(const CliOverrides& cli, Config* out, std::string* error) {
  Config c;
  char host[256] = "runwayd";
  gethostname(host, sizeof host - 1);
  c.daemon_id = host;
  toml::table root;
  if (!cli.config_path.empty()) {
    try {
      root = toml::parse_file(cli.config_path);
    } catch (const toml::parse_error& e) {
      *error = fmt::format("config: {}:{}: {}", cli.config_path, e.source().begin.line, e.description());
      return false;
    }
  }
  Reader r{error};
  r.Known(root, "", {"daemon", "redis", "upstream", "polling", "jobs", "account", "prices", "log", "ledger", "metrics"});
  if (auto* t = r.Table(root, "metrics")) {
    r.Known(*t, "metrics.", {"listen"});
    r.Str(*t, "listen", "metrics.", &c.metrics_listen);
  }
  if (auto* t = r.Table(root, "ledger")) {
    r.Known(*t, "ledger.", {"reconcile_interval_s", "credit_wait_s"});
    r.Int(*t, "reconcile_interval_s", "ledger.", &c.reconcile_interval_s, 1, 86400);
    r.Int(*t, "credit_wait_s", "ledger.", &c.credit_wait_s, 0, 7 * 86400);
  }
  if (auto* t = r.Table(root, "daemon")) {
    r.Known(*t, "daemon.", {"id", "max_in_flight", "intake_batch", "shutdown_grace_ms", "time_scale", "heartbeat_ttl_ms"});
    r.Int(*t, "heartbeat_ttl_ms", "daemon.", &c.heartbeat_ttl_ms, 300, 3600000);
    r.Str(*t, "id", "daemon.", &c.daemon_id);
    r.Int(*t, "max_in_flight", "daemon.", &c.max_in_flight, 1, 10000000);
    r.Int(*t, "intake_batch", "daemon.", &c.intake_batch, 1, 10000);
    r.Int(*t, "shutdown_grace_ms", "daemon.", &c.shutdown_grace_ms, 0, 600000);
    r.Double(*t, "time_scale", "daemon.", &c.time_scale, 0.0001, 100);
  }
  if (auto* t = r.Table(root, "redis")) {
    r.Known(*t, "redis.", {"url", "prefix"});
    r.Str(*t, "url", "redis.", &c.redis_url);
    r.Str(*t, "prefix", "redis.", &c.prefix);
  }
  if (auto* t = r.Table(root, "upstream")) {
    r.Known(*t, "upstream.", {"base_url", "api_version", "connect_timeout_ms", "request_timeout_ms",
                              "max_host_connections", "ca_file", "allow_unknown_models", "extra_endpoints",
                              "on_unknown_outcome"});
    r.Str(*t, "base_url", "upstream.", &c.base_url);
    r.Str(*t, "api_version", "upstream.", &c.api_version);
    r.Int(*t, "connect_timeout_ms", "upstream.", &c.http.connect_timeout_ms, 100, 600000);
    r.Int(*t, "request_timeout_ms", "upstream.", &c.http.request_timeout_ms, 100, 3600000);
    r.Int(*t, "max_host_connections", "upstream.", &c.http.max_host_connections, 1, 10000);
    r.Str(*t, "ca_file", "upstream.", &c.http.ca_file);
    r.Bool(*t, "allow_unknown_models", "upstream.", &c.checks.allow_unknown_models);
    r.StrList(*t, "extra_endpoints", "upstream.", &c.extra_endpoints);
    std::string unknown = "refund";
    r.Str(*t, "on_unknown_outcome", "upstream.", &unknown);
    if (unknown != "refund" && unknown != "resubmit") r.Fail("config: upstream.on_unknown_outcome is refund or resubmit");
    c.resubmit_unknown = unknown == "resubmit";
  }
  if (auto* t = r.Table(root, "polling")) {
    r.Known(*t, "polling.", {"min_interval_ms", "first_poll_ms", "throttled_interval_ms", "max_interval_ms",
                             "max_rps_per_account"});
    r.Double(*t, "max_rps_per_account", "polling.", &c.poll_rps_per_account, 0.1, 1e6);
    r.Int(*t, "min_interval_ms", "polling.", &c.poll.min_interval_ms, 1, 3600000);
    r.Int(*t, "first_poll_ms", "polling.", &c.poll.first_poll_ms, 1, 3600000);
    r.Int(*t, "throttled_interval_ms", "polling.", &c.poll.throttled_interval_ms, 1, 3600000);
    r.Int(*t, "max_interval_ms", "polling.", &c.poll.max_interval_ms, 1, 3600000);
  }
  if (auto* t = r.Table(root, "jobs")) {
    r.Known(*t, "jobs.", {"max_bytes", "default_deadline_s", "max_attempts", "max_create_retries", "retry_base_ms",
                          "retry_cap_ms", "dedup_window_s", "no_refund_classes"});
    r.Int(*t, "max_bytes", "jobs.", &c.max_job_bytes, 64, 64 << 20);
    r.Int(*t, "default_deadline_s", "jobs.", &c.default_deadline_s, 1, 30 * 86400);
    r.Int(*t, "max_attempts", "jobs.", &c.max_attempts, 1, 20);
    r.Int(*t, "max_create_retries", "jobs.", &c.max_create_retries, 0, 100);
    r.Int(*t, "retry_base_ms", "jobs.", &c.retry_base_ms, 1, 3600000);
    r.Int(*t, "retry_cap_ms", "jobs.", &c.retry_cap_ms, 1, 3600000);
    r.Int(*t, "dedup_window_s", "jobs.", &c.dedup_window_s, 1, 365 * 86400);
    r.StrList(*t, "no_refund_classes", "jobs.", &c.no_refund_classes);
    for (const auto& cls : c.no_refund_classes)
      if (!ErrorClassFromName(cls)) r.Fail("config: jobs.no_refund_classes: unknown error class " + cls);
  }
  if (auto* t = r.Table(root, "log")) {
    r.Known(*t, "log.", {"level", "format"});
    r.Str(*t, "level", "log.", &c.log_level);
    r.Str(*t, "format", "log.", &c.log_format);
  }
  if (auto* t = r.Table(root, "prices")) {
    for (auto&& [model, v] : *t) {
      std::string where = "prices." + std::string(model.str()) + ".";
      auto* pt = v.as_table();
      if (!pt) {
        r.Fail("config: " + where.substr(0, where.size() - 1) + " must be a table");
        continue;
      }
      ledger::ModelPrice p;
      if (const auto* base = c.prices.Find(model.str())) p = *base;
      r.Known(*pt, where, {"per_second", "per_second_audio", "minimum", "per_image", "per_image_1080",
                           "default_duration_s"});
      r.Int(*pt, "per_second", where, &p.per_second, 0, 1000000);
      r.Int(*pt, "per_second_audio", where, &p.per_second_audio, 0, 1000000);
      r.Int(*pt, "minimum", where, &p.minimum, 0, 1000000);
      r.Int(*pt, "per_image", where, &p.per_image, 0, 1000000);
      r.Int(*pt, "per_image_1080", where, &p.per_image_1080, 0, 1000000);
      r.Double(*pt, "default_duration_s", where, &p.default_duration_s, 0, 3600);
      c.prices.Set(std::string(model.str()), p);
    }
  }
  if (!r.ok) return false;

  // Command-line overrides win over the file.
  if (cli.redis_url) c.redis_url = *cli.redis_url;
  if (cli.prefix) c.prefix = *cli.prefix;
  if (cli.base_url) c.base_url = *cli.base_url;
  if (cli.log_level) c.log_level = *cli.log_level;
  if (cli.log_format) c.log_format = *cli.log_format;
  if (cli.daemon_id) c.daemon_id = *cli.daemon_id;
  if (cli.metrics_listen) c.metrics_listen = *cli.metrics_listen;
  if (c.metrics_listen == "off") c.metrics_listen.clear();

  c.poll.time_scale = c.time_scale;
  if (!ParseRedisUrl(c.redis_url, &c.redis, error)) return false;
  if (c.prefix.empty() || c.prefix.find_first_of(" \t\r\n") != std::string::npos)
    return r.Fail("config: redis.prefix must be non-empty without spaces");
  if (c.daemon_id.empty() || c.daemon_id.size() > 128 || c.daemon_id.find_first_of(" \t\r\n:") != std::string::npos)
    return r.Fail("config: daemon.id must be 1..128 characters without spaces or ':'");
  if (!BaseUrlAllowed(c.base_url, error)) return false;
  runway::ProxyFromEnvironment(c.base_url.substr(0, c.base_url.find(':')), getenv, &c.http.proxy, &c.http.no_proxy);
  if (!c.metrics_listen.empty()) {
    metrics::MetricsServerOptions mo;
    std::string merr;
    if (!metrics::ParseListenAddress(c.metrics_listen, &mo, &merr)) return r.Fail("config: metrics.listen: " + merr);
  }
  while (!c.base_url.empty() && c.base_url.back() == '/') c.base_url.pop_back();
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!kLevels.count(c.log_level)) return r.Fail("config: log level must be trace, debug, info, warn, error or off");
  if (c.log_format != "text" && c.log_format != "json") return r.Fail("config: log format must be text or json");

  // Accounts: with none configured, one named "default" reads RUNWAYML_API_SECRET.
  std::set<std::string> names;
  if (auto* arr = root.get("account") ? root.get("account")->as_array() : nullptr) {
    for (auto&& n : *arr) {
      auto* t = n.as_table();
      if (!t) return r.Fail("config: [[account]] entries must be tables");
      AccountConfig a;
      std::string key_env, key_file;
      r.Known(*t, "account.", {"name", "key_env", "key_file", "low_balance", "priority", "limits"});
      if (auto* lt = r.Table(*t, "limits")) {
        for (auto&& [model, v] : *lt) {
          auto* mt = v.as_table();
          std::string where = "account.limits." + std::string(model.str()) + ".";
          if (!mt) return r.Fail("config: " + where + " must be a table");
          r.Known(*mt, where, {"max_concurrent", "max_daily"});
          int64_t mc = -1, md = -1;
          r.Int(*mt, "max_concurrent", where, &mc, 0, 100000);
          r.Int(*mt, "max_daily", where, &md, 0, 100000000);
          AccountConfig::Limits l;
          if (mc >= 0) l.max_concurrent = mc;
          if (md >= 0) l.max_daily = md;
          a.limits[std::string(model.str())] = l;
        }
      }
      r.Str(*t, "name", "account.", &a.name);
      r.Str(*t, "key_env", "account.", &key_env);
      r.Str(*t, "key_file", "account.", &key_file);
      r.Int(*t, "low_balance", "account.", &a.low_balance, 0, int64_t{1} << 50);
      r.Int(*t, "priority", "account.", &a.priority, -1000, 1000);
      if (!r.ok) return false;
      if (a.name.empty()) return r.Fail("config: every [[account]] needs a name");
      if (!names.insert(a.name).second) return r.Fail("config: account " + a.name + " is defined twice");
      if (key_env.empty() && key_file.empty()) return r.Fail("config: account " + a.name + ": set key_env or key_file");
      a.key_source = key_file.empty() ? "env " + key_env : "file " + key_file;
      if (!ReadKey(a, key_env, key_file, &a.key, error)) return false;
      c.accounts.push_back(std::move(a));
    }
  } else if (root.get("account")) {
    return r.Fail("config: account must be an array of tables ([[account]])");
  }
  if (c.accounts.empty()) {
    AccountConfig a;
    a.name = "default";
    a.key_source = "env RUNWAYML_API_SECRET";
    if (!ReadKey(a, "", "", &a.key, error)) return false;
    c.accounts.push_back(std::move(a));
  }
  *out = std::move(c);
  return true;
}

}  // namespace runwayd
