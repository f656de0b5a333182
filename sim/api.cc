// sim/api.cc — routing, auth, chaos and the /_sim endpoints (see api.h).
#include "sim/api.h"

#include <simdjson.h>

#include <fmt/format.h>

#include "sim/validate.h"

namespace runwayd::sim {
namespace {

constexpr std::string_view kTasksPrefix = "/v1/tasks/";

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

Response ChaosError(int status, int64_t retry_after_s) {
  switch (status) {
    case 429: {
      Response r = Json(429, ErrorJson("Too many requests"));
      r.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
      return r;
    }
    case 502: return Json(502, ErrorJson("Bad gateway"));
    case 503: return Json(503, ErrorJson("Service unavailable"));
    default: return Json(504, ErrorJson("Gateway timeout"));
  }
}

// "Bearer <key>" (scheme case-insensitive) -> key; "" when malformed.
std::string_view BearerKey(const char* header) {
  if (header == nullptr) return {};
  std::string_view h(header);
  if (h.size() < 7) return {};
  std::string scheme(h.substr(0, 7));
  for (char& ch : scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (scheme != "bearer ") return {};
  h.remove_prefix(7);
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
  return h;
}

}  // namespace

Response Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Api::Api(const SimConfig& config, ledger::PriceTable prices, NowFn now)
    : config_(config), state_(config, std::move(prices), std::move(now)), chaos_(config.chaos, config.seed) {}

std::string Api::RouteName(const Request& req, bool* is_create, bool* is_org) {
  *is_create = false;
  *is_org = false;
  const std::string_view p = req.path;
  if (req.method == "POST" && StartsWith(p, "/v1/") && IsCreateEndpoint(p.substr(4))) {
    *is_create = true;
    return fmt::format("POST {}", p);
  }
  if (StartsWith(p, kTasksPrefix) && (req.method == "GET" || req.method == "DELETE"))
    return fmt::format("{} /v1/tasks", req.method);
  if (p == "/v1/organization" && req.method == "GET") {
    *is_org = true;
    return "GET /v1/organization";
  }
  return "OTHER";
}

Response Api::Handle(const Request& req) {
  try {
    if (StartsWith(req.path, "/_sim/")) return Sim(req);
    if (StartsWith(req.path, "/v1/")) {
      bool is_create = false, is_org = false;
      const std::string route = RouteName(req, &is_create, &is_org);
      return V1(req, route, is_create, is_org);
    }
    return Json(404, ErrorJson("Not found"));
  } catch (const std::exception& e) {
    return Json(500, ErrorJson(fmt::format("runway-sim internal error: {}", e.what())));
  } catch (...) {
    return Json(500, ErrorJson("runway-sim internal error"));
  }
}

Response Api::V1(const Request& req, std::string_view route, bool is_create, bool is_org) {
  ChaosPlan plan;
  {
    std::lock_guard lock(mu_);
    ++stats_.requests[std::string(route)];
    if (req.content_type != nullptr) {
      std::string k = fmt::format("{} {}", route, req.content_type);
      if (stats_.content_types.size() < 64 || stats_.content_types.count(k)) ++stats_.content_types[k];
    }
    if (chaos_.AppliesTo(is_org)) plan = chaos_.Roll(is_create);
    if (plan.reset_before) {
      ++stats_.responses["reset"];
      Response r;
      r.drop = true;
      return r;
    }
    if (plan.early_status != 0) {
      Response r = ChaosError(plan.early_status, chaos_.config().retry_after_s);
      r.delay_ms = plan.delay_ms;
      ++stats_.responses[std::to_string(r.status)];
      return r;
    }
  }

  Response r;
  // Accounts never change after construction: the key lookup needs no lock.
  const std::string_view key = BearerKey(req.authorization);
  const int account = key.empty() ? -1 : state_.FindAccountByKey(key);
  bool known_version = false;
  if (req.runway_version != nullptr)
    for (const auto& v : config_.api_versions) known_version = known_version || v == req.runway_version;

  if (account < 0) {
    r = Json(401, ErrorJson(key.empty() ? "Missing API key: set the Authorization header to \"Bearer <key>\"."
                                        : "Invalid API key."));
  } else if (req.runway_version == nullptr) {
    r = Json(400, ErrorJson("The X-Runway-Version header is required (for example \"X-Runway-Version: 2024-11-06\")."));
  } else if (!known_version) {
    r = Json(400, ErrorJson(fmt::format("Unsupported API version in the X-Runway-Version header: \"{}\".",
                                        req.runway_version)));
  } else if (is_create) {
    const Validation v = ValidateCreate(req.path.substr(4), req.body);  // outside the lock
    if (!v.ok) {
      r = Json(400, ValidationJson(v));
    } else {
      const Hooks hooks = ParseHooks(v.prompt_text);
      std::lock_guard lock(mu_);
      const CreateResult c = state_.Create(static_cast<uint32_t>(account), req.path.substr(4), v.facts, hooks);
      if (c.kind == CreateResult::Kind::kDailyLimit) {
        r = Json(429, ErrorJson("Your daily task limit has been reached."));
      } else if (c.kind == CreateResult::Kind::kInsufficientCredits) {
        r = Json(400, ErrorJson("You do not have enough credits to run this task."));
      } else {
        r = Json(200, CreatedJson(*c.task));
      }
    }
  } else if (route == "GET /v1/tasks" || route == "DELETE /v1/tasks") {
    const std::string_view id = req.path.substr(kTasksPrefix.size());
    std::lock_guard lock(mu_);
    if (req.method == "GET") {
      Status st{};
      const Task* t = state_.Poll(static_cast<uint32_t>(account), id, &st);
      r = t ? Json(200, TaskJson(state_, *t, st, state_.Now())) : Json(404, ErrorJson("Could not find Task"));
    } else {
      r = state_.Delete(static_cast<uint32_t>(account), id) ? Json(204, "") : Json(404, ErrorJson("Could not find Task"));
    }
  } else if (is_org) {
    std::lock_guard lock(mu_);
    state_.AdvanceAccount(static_cast<uint32_t>(account));
    r = Json(200, OrganizationJson(state_, static_cast<uint32_t>(account)));
  } else {
    r = Json(404, ErrorJson("Not found"));
  }

  // Late chaos: the request has been processed (a create created and charged).
  if (plan.late_504) r = ChaosError(504, chaos_.config().retry_after_s);
  if (plan.reset_after) {
    r = Response();
    r.drop = true;
  } else if (r.status == 200 && plan.body == ChaosPlan::Body::kMalformed) {
    r.body = MalformBody(r.body);
  } else if (r.status == 200 && plan.body == ChaosPlan::Body::kTruncated) {
    r.body = TruncateBody(r.body);
  }
  r.delay_ms = plan.delay_ms;
  std::lock_guard lock(mu_);
  ++stats_.responses[r.drop ? std::string("reset") : std::to_string(r.status)];
  return r;
}

Response Api::Sim(const Request& req) {
  const std::string_view p = req.path;
  if (req.method == "GET" && (p == "/_sim/stats" || p == "/_sim/tasks")) {
    std::lock_guard lock(mu_);
    state_.AdvanceAll();
    if (p == "/_sim/tasks") return Json(200, TasksJson(state_));
    stats_.connections = connections_.load(std::memory_order_relaxed);
    return Json(200, StatsJson(state_, stats_));
  }
  if (req.method == "POST" && p == "/_sim/chaos") {
    ChaosConfig c;
    std::string error;
    if (!ParseChaosJson(req.body, &c, &error)) return Json(400, ErrorJson(error));
    std::lock_guard lock(mu_);
    chaos_.Set(c);
    return Json(204, "");
  }
  if (req.method == "POST" && p == "/_sim/topup") {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    std::string_view name;
    int64_t credits = 0;
    if (parser.parse(req.body.data(), req.body.size()).get(root) != simdjson::SUCCESS ||
        root["account"].get_string().get(name) != simdjson::SUCCESS ||
        root["credits"].get_int64().get(credits) != simdjson::SUCCESS)
      return Json(400, ErrorJson("expected {\"account\": \"<name>\", \"credits\": <integer>}"));
    std::lock_guard lock(mu_);
    const int account = state_.FindAccountByName(name);
    if (account < 0) return Json(404, ErrorJson(fmt::format("no account named \"{}\"", name)));
    state_.TopUp(static_cast<uint32_t>(account), credits);
    return Json(200, BalanceJson(state_, static_cast<uint32_t>(account)));
  }
  return Json(404, ErrorJson("Not found"));
}

}  // namespace runwayd::sim
