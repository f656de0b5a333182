// sim/config.cc — TOML -> SimConfig (see config.h for the promises).
#include "sim/config.h"

#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace runwayd::sim {
namespace {

// Small typed readers. Each returns false with a message naming `what` when the node
// has the wrong type or range; a missing node leaves *out untouched (the default).
bool ReadNumber(const toml::node* n, std::string_view what, double* out, std::string* error) {
  if (n == nullptr) return true;
  if (auto i = n->as_integer()) {
    *out = static_cast<double>(i->get());
  } else if (auto f = n->as_floating_point()) {
    *out = f->get();
  } else {
    *error = fmt::format("{}: expected a number", what);
    return false;
  }
  return true;
}

bool ReadNonNegative(const toml::node* n, std::string_view what, double* out, std::string* error) {
  if (!ReadNumber(n, what, out, error)) return false;
  if (!(*out >= 0) || *out > 1e9) {
    *error = fmt::format("{}: must be between 0 and 1e9", what);
    return false;
  }
  return true;
}

bool ReadFraction(const toml::node* n, std::string_view what, double* out, std::string* error) {
  if (!ReadNumber(n, what, out, error)) return false;
  if (!(*out >= 0 && *out <= 1)) {
    *error = fmt::format("{}: must be a fraction between 0 and 1", what);
    return false;
  }
  return true;
}

bool ReadInt(const toml::node* n, std::string_view what, int64_t lo, int64_t* out,
             std::string* error) {
  if (n == nullptr) return true;
  auto i = n->as_integer();
  if (i == nullptr) {
    *error = fmt::format("{}: expected an integer", what);
    return false;
  }
  if (i->get() < lo) {
    *error = fmt::format("{}: must be at least {}", what, lo);
    return false;
  }
  *out = i->get();
  return true;
}

bool ReadString(const toml::node* n, std::string_view what, std::string* out, std::string* error) {
  if (n == nullptr) return true;
  auto s = n->as_string();
  if (s == nullptr) {
    *error = fmt::format("{}: expected a string", what);
    return false;
  }
  *out = s->get();
  return true;
}

bool ReadStringArray(const toml::node* n, std::string_view what, std::vector<std::string>* out,
                     std::string* error) {
  if (n == nullptr) return true;
  auto a = n->as_array();
  if (a == nullptr) {
    *error = fmt::format("{}: expected an array of strings", what);
    return false;
  }
  std::vector<std::string> v;
  for (const auto& e : *a) {
    auto s = e.as_string();
    if (s == nullptr) {
      *error = fmt::format("{}: expected an array of strings", what);
      return false;
    }
    v.push_back(s->get());
  }
  *out = std::move(v);
  return true;
}

// Rejects keys of `t` that are not in `known`: a typo must not pass silently.
bool OnlyKnownKeys(const toml::table& t, std::string_view where,
                   std::initializer_list<std::string_view> known, std::string* error) {
  for (const auto& [k, v] : t) {
    bool ok = false;
    for (auto name : known) ok = ok || k.str() == name;
    if (!ok) {
      *error = fmt::format("{}: unknown key \"{}\"", where.empty() ? "config" : where, k.str());
      return false;
    }
  }
  return true;
}

const toml::table* SubTable(const toml::table& t, std::string_view key, std::string_view what,
                            std::string* error, bool* bad) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return nullptr;
  if (!n->is_table()) {
    *error = fmt::format("{}: expected a table", what);
    *bad = true;
    return nullptr;
  }
  return n->as_table();
}

bool ReadTiming(const toml::table& t, std::string_view where, ModelTiming* m, std::string* error) {
  if (!OnlyKnownKeys(t, where, {"duration_s", "jitter_s"}, error)) return false;
  return ReadNonNegative(t.get("duration_s"), fmt::format("{}.duration_s", where), &m->duration_s,
                         error) &&
         ReadNonNegative(t.get("jitter_s"), fmt::format("{}.jitter_s", where), &m->jitter_s, error);
}

bool ReadAccount(const toml::table& t, size_t index, AccountConfig* a, std::string* error) {
  const std::string where = fmt::format("account[{}]", index);
  if (!OnlyKnownKeys(t, where, {"name", "key", "balance", "max_monthly_spend", "limits"}, error))
    return false;
  if (!ReadString(t.get("name"), where + ".name", &a->name, error) ||
      !ReadString(t.get("key"), where + ".key", &a->key, error) ||
      !ReadInt(t.get("balance"), where + ".balance", INT64_MIN, &a->balance, error))
    return false;
  if (a->name.empty() || a->key.empty()) {
    *error = fmt::format("{}: name and key are required", where);
    return false;
  }
  if (const toml::node* n = t.get("max_monthly_spend")) {
    int64_t v = 0;
    if (!ReadInt(n, where + ".max_monthly_spend", 0, &v, error)) return false;
    a->max_monthly_spend = v;
  }
  bool bad = false;
  const toml::table* limits = SubTable(t, "limits", where + ".limits", error, &bad);
  if (bad) return false;
  if (limits == nullptr) return true;
  for (const auto& [model, node] : *limits) {
    const std::string mw = fmt::format("{}.limits.{}", where, model.str());
    if (!node.is_table()) {
      *error = fmt::format("{}: expected a table", mw);
      return false;
    }
    const toml::table& lt = *node.as_table();
    if (!OnlyKnownKeys(lt, mw, {"max_concurrent", "max_daily"}, error)) return false;
    ModelLimits ml;
    int64_t v = 0;
    if (const toml::node* c = lt.get("max_concurrent")) {
      if (!ReadInt(c, mw + ".max_concurrent", 1, &v, error)) return false;
      ml.max_concurrent = v;
    }
    if (const toml::node* d = lt.get("max_daily")) {
      if (!ReadInt(d, mw + ".max_daily", 0, &v, error)) return false;
      ml.max_daily = v;
    }
    a->limits[std::string(model.str())] = ml;
  }
  return true;
}

bool ReadChaos(const toml::table& t, ChaosConfig* c, std::string* error) {
  if (!OnlyKnownKeys(t, "chaos",
                     {"rate_429", "rate_502", "rate_503", "rate_504", "rate_504_created",
                      "reset_before", "reset_after", "slow_rate", "slow_ms", "malformed_rate",
                      "truncated_rate", "organization", "retry_after_s"},
                     error))
    return false;
  const std::pair<const char*, double*> fractions[] = {
      {"rate_429", &c->rate_429},           {"rate_502", &c->rate_502},
      {"rate_503", &c->rate_503},           {"rate_504", &c->rate_504},
      {"rate_504_created", &c->rate_504_created}, {"reset_before", &c->reset_before},
      {"reset_after", &c->reset_after},     {"slow_rate", &c->slow_rate},
      {"malformed_rate", &c->malformed_rate}, {"truncated_rate", &c->truncated_rate}};
  for (const auto& [k, p] : fractions)
    if (!ReadFraction(t.get(k), fmt::format("chaos.{}", k), p, error)) return false;
  if (!ReadInt(t.get("slow_ms"), "chaos.slow_ms", 0, &c->slow_ms, error)) return false;
  if (!ReadInt(t.get("retry_after_s"), "chaos.retry_after_s", 0, &c->retry_after_s, error)) return false;
  if (const toml::node* o = t.get("organization")) {
    if (!o->is_boolean()) {
      *error = "chaos.organization: expected a boolean";
      return false;
    }
    c->organization = o->as_boolean()->get();
  }
  return ValidateChaos(*c, error);
}

bool ReadTable(const toml::table& root, SimConfig* cfg, std::string* error) {
  if (!OnlyKnownKeys(root, "", {"time_scale", "seed", "account", "task", "chaos", "api_versions"},
                     error))
    return false;
  if (!ReadNonNegative(root.get("time_scale"), "time_scale", &cfg->time_scale, error)) return false;
  if (!(cfg->time_scale > 0)) {
    *error = "time_scale: must be greater than 0";
    return false;
  }
  int64_t seed = 1;
  if (!ReadInt(root.get("seed"), "seed", 0, &seed, error)) return false;
  cfg->seed = static_cast<uint64_t>(seed);
  if (!ReadStringArray(root.get("api_versions"), "api_versions", &cfg->api_versions, error))
    return false;

  if (const toml::node* accounts = root.get("account")) {
    const toml::array* arr = accounts->as_array();
    if (arr == nullptr) {
      *error = "account: expected an array of tables ([[account]])";
      return false;
    }
    std::set<std::string> names, keys;
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::table* t = (*arr)[i].as_table();
      if (t == nullptr) {
        *error = fmt::format("account[{}]: expected a table", i);
        return false;
      }
      AccountConfig a;
      if (!ReadAccount(*t, i, &a, error)) return false;
      if (!names.insert(a.name).second || !keys.insert(a.key).second) {
        *error = fmt::format("account[{}]: duplicate name or key", i);
        return false;
      }
      cfg->accounts.push_back(std::move(a));
    }
  }

  bool bad = false;
  if (const toml::table* task = SubTable(root, "task", "task", error, &bad)) {
    TaskConfig& tc = cfg->task;
    if (!OnlyKnownKeys(*task, "task",
                       {"pending_s", "duration_s", "jitter_s", "failure_rate", "failure_codes",
                        "models", "update_s"},
                       error))
      return false;
    if (!ReadNonNegative(task->get("pending_s"), "task.pending_s", &tc.pending_s, error) ||
        !ReadNonNegative(task->get("duration_s"), "task.duration_s", &tc.timing.duration_s,
                         error) ||
        !ReadNonNegative(task->get("jitter_s"), "task.jitter_s", &tc.timing.jitter_s, error) ||
        !ReadNonNegative(task->get("update_s"), "task.update_s", &tc.update_s, error) ||
        !ReadFraction(task->get("failure_rate"), "task.failure_rate", &tc.failure_rate, error) ||
        !ReadStringArray(task->get("failure_codes"), "task.failure_codes", &tc.failure_codes,
                         error))
      return false;
    if (tc.failure_codes.empty()) tc.failure_codes = {"INTERNAL"};
    const toml::table* models = SubTable(*task, "models", "task.models", error, &bad);
    if (bad) return false;
    if (models != nullptr) {
      for (const auto& [model, node] : *models) {
        const std::string mw = fmt::format("task.models.{}", model.str());
        if (!node.is_table()) {
          *error = fmt::format("{}: expected a table", mw);
          return false;
        }
        ModelTiming m = tc.timing;  // an override of one field keeps the other default
        if (!ReadTiming(*node.as_table(), mw, &m, error)) return false;
        tc.models[std::string(model.str())] = m;
      }
    }
  } else if (bad) {
    return false;
  }

  if (const toml::table* chaos = SubTable(root, "chaos", "chaos", error, &bad)) {
    if (!ReadChaos(*chaos, &cfg->chaos, error)) return false;
  } else if (bad) {
    return false;
  }

  if (cfg->accounts.empty()) {
    AccountConfig a;
    a.name = "main";
    a.key = std::string(kDefaultKey);
    cfg->accounts.push_back(a);
  }
  return true;
}

}  // namespace

bool ValidateChaos(const ChaosConfig& c, std::string* error) {
  for (double v : {c.rate_429, c.rate_502, c.rate_503, c.rate_504, c.rate_504_created,
                   c.reset_before, c.reset_after, c.slow_rate, c.malformed_rate,
                   c.truncated_rate}) {
    if (!(v >= 0 && v <= 1)) {
      *error = "chaos: every rate must be a fraction between 0 and 1";
      return false;
    }
  }
  if (c.rate_429 + c.rate_502 + c.rate_503 + c.rate_504 + c.reset_before > 1.0 + 1e-9) {
    *error = "chaos: rate_429 + rate_502 + rate_503 + rate_504 + reset_before must be <= 1";
    return false;
  }
  if (c.reset_after + c.malformed_rate + c.truncated_rate > 1.0 + 1e-9) {
    *error = "chaos: reset_after + malformed_rate + truncated_rate must be <= 1";
    return false;
  }
  if (c.slow_ms < 0 || c.slow_ms > 600000) {
    *error = "chaos: slow_ms must be between 0 and 600000";
    return false;
  }
  if (c.retry_after_s < 0 || c.retry_after_s > 86400) {
    *error = "chaos: retry_after_s must be between 0 and 86400";
    return false;
  }
  return true;
}

bool ParseConfig(std::string_view toml_text, std::string_view source, SimConfig* out,
                 std::string* error) {
  SimConfig cfg;
#if TOML_EXCEPTIONS
  try {
    toml::table root = toml::parse(toml_text, source);
    if (!ReadTable(root, &cfg, error)) return false;
  } catch (const toml::parse_error& e) {
    *error = fmt::format("{}:{}:{}: {}", source, e.source().begin.line, e.source().begin.column,
                         e.description());
    return false;
  } catch (const std::exception& e) {
    *error = fmt::format("{}: {}", source, e.what());
    return false;
  }
#else
  toml::parse_result r = toml::parse(toml_text, source);
  if (!r) {
    *error = fmt::format("{}:{}:{}: {}", source, r.error().source().begin.line,
                         r.error().source().begin.column, r.error().description());
    return false;
  }
  if (!ReadTable(r.table(), &cfg, error)) return false;
#endif
  *out = std::move(cfg);
  return true;
}

bool LoadConfig(const std::string& path, SimConfig* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = fmt::format("{}: cannot read the file", path);
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (!ParseConfig(text, path, out, error)) {
    if (error->rfind(path, 0) != 0) *error = fmt::format("{}: {}", path, *error);
    return false;
  }
  return true;
}

}  // namespace runwayd::sim
