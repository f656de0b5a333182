// tools/runwayctl/daemon_config.cc — what `enqueue --config FILE` takes from the
// daemon's TOML configuration: the rules ParseJob applies that an operator may have
// changed from their defaults (`jobs.max_bytes`, `upstream.extra_endpoints`), where the
// daemon reads its jobs (`redis.prefix`) and which accounts a job may pin (the names of
// its `[[account]]` tables).
//
// Not the daemon's LoadConfig(): that one also reads every account's API key (from
// key_env or key_file), so it fails in an operator's shell that lacks the daemon's
// environment, and runwayctl has no business holding those secrets. Only those keys
// are read, with the daemon's types and range (daemon/config.cc); a value the daemon
// would refuse is refused here too, so what enqueue accepts the daemon accepts. A
// message names the file, the key and the line, never a value: redis.url in the same
// file may hold a password.
#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "tools/runwayctl/ctl.h"

namespace runwayctl {

void ReadDaemonConfig(const std::string& path, DaemonRules* out) {
  {
    // toml++ says only "file could not be opened" for every reason: name the real one.
    std::ifstream probe(path, std::ios::binary);
    if (!probe) Fail(kUsage, "cannot read " + path + ": " + std::strerror(errno));
  }
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    Fail(kUsage, "config " + path + ":" + std::to_string(e.source().begin.line) + ": not valid TOML");
  }
  auto table = [&](const char* name) -> const toml::table* {
    const toml::node* n = root.get(name);
    if (n && !n->is_table()) Fail(kUsage, "config " + path + ": [" + name + "] must be a table");
    return n ? n->as_table() : nullptr;
  };
  if (const toml::table* jobs = table("jobs")) {
    if (const toml::node* n = jobs->get("max_bytes")) {
      // As the daemon reads it: a boolean is no integer, a float with an integral value is.
      std::optional<int64_t> v = n->is_boolean() ? std::nullopt : n->value<int64_t>();
      if (!v || *v < kMinJobBytes || *v > kMaxJobBytes)
        Fail(kUsage, "config " + path + ": jobs.max_bytes must be an integer in " + std::to_string(kMinJobBytes) +
                         ".." + std::to_string(kMaxJobBytes));
      out->max_bytes = static_cast<size_t>(*v);
    }
  }
  if (const toml::table* up = table("upstream")) {
    if (const toml::node* n = up->get("extra_endpoints")) {
      const toml::array* arr = n->as_array();
      std::vector<std::string> names;
      for (size_t i = 0; arr && i < arr->size(); ++i) {
        std::optional<std::string> s = (*arr)[i].value<std::string>();
        if (!s) {
          arr = nullptr;
          break;
        }
        names.push_back(*s);
      }
      if (!arr) Fail(kUsage, "config " + path + ": upstream.extra_endpoints must be an array of strings");
      out->extra_endpoints = std::move(names);
    }
  }
  if (const toml::table* redis = table("redis")) {
    if (const toml::node* n = redis->get("prefix")) {
      std::optional<std::string> v = n->value<std::string>();
      if (!v || v->empty() || v->find_first_of(" \t\r\n") != std::string::npos)
        Fail(kUsage, "config " + path + ": redis.prefix must be a non-empty string without spaces");
      out->prefix = *v;
    }
  }
  // As the daemon names them: with no [[account]], one called "default".
  if (const toml::node* n = root.get("account")) {
    const toml::array* arr = n->as_array();
    for (size_t i = 0; arr && i < arr->size(); ++i) {
      const toml::table* t = (*arr)[i].as_table();
      std::optional<std::string> name = t && t->get("name") ? t->get("name")->value<std::string>() : std::nullopt;
      if (!name || name->empty()) Fail(kUsage, "config " + path + ": every [[account]] needs a name");
      out->accounts.push_back(*name);
    }
    if (!arr) Fail(kUsage, "config " + path + ": [[account]] entries must be tables");
  }
  if (out->accounts.empty()) out->accounts.push_back("default");
}

}  // namespace runwayctl
