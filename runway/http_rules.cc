// runway/http_rules.cc — the HTTP engine's decisions that need no socket (see http.h):
// what a curl result says about whether a request reached Runway, the proxy from the
// environment as curl would read it, and which URLs a pooled handle may reuse its
// parsed base for. Kept apart from the engine so they are tested without I/O.
#include <array>
#include <cctype>

#include "runway/http.h"

namespace runwayd::runway {

Transport TransportFor(CURLcode code, long request_bytes) {
  switch (code) {
    case CURLE_OK:
      return Transport::kAnswered;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return Transport::kNotSent;
    case CURLE_OPERATION_TIMEDOUT:
      return request_bytes == 0 ? Transport::kNotSent : Transport::kTimeout;
    default:
      return request_bytes == 0 ? Transport::kNotSent : Transport::kSentNoAnswer;
  }
}

void ProxyFromEnvironment(std::string_view scheme, const std::function<const char*(const char*)>& get,
                          std::string* proxy, std::string* no_proxy) {
  auto var = [&get](const std::string& name) -> const char* {
    const char* v = get(name.c_str());
    return v != nullptr && *v != '\0' ? v : nullptr;
  };
  std::string name;
  for (char c : scheme) name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  name += "_proxy";
  const char* p = var(name);
  if (p == nullptr && name != "http_proxy") {
    std::string upper;
    for (char c : name) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    p = var(upper);
  }
  if (p == nullptr) p = var("all_proxy");
  if (p == nullptr) p = var("ALL_PROXY");
  *proxy = p != nullptr ? p : "";
  const char* n = var("no_proxy");
  if (n == nullptr) n = var("NO_PROXY");
  *no_proxy = n != nullptr ? n : "";
}

namespace {
// The characters a plain path may hold (see SplitPlainUrl): a table, since every
// request's path is checked.
constexpr auto kPlainPathChars = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (unsigned char c : std::string_view("-._~/:@!$&'()*+,;=")) t[c] = true;
  return t;
}();
}  // namespace

bool SplitPlainUrl(std::string_view url, std::string_view* base, std::string_view* path) {
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) return false;
  const size_t slash = url.find('/', sep + 3);
  if (slash == std::string_view::npos || slash == sep + 3) return false;
  for (char c : url.substr(0, slash)) {
    if (c == '@' || c == '?' || c == '#' || static_cast<unsigned char>(c) <= ' ') return false;
  }
  const std::string_view p = url.substr(slash);
  for (char c : p) {
    if (!kPlainPathChars[static_cast<unsigned char>(c)]) return false;
  }
  if (p.find("/.") != std::string_view::npos) return false;  // curl would remove dot segments
  *base = url.substr(0, slash);
  *path = p;
  return true;
}

}  // namespace runwayd::runway
