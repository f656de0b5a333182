// sim/main.cc — runway-sim: a local stand-in for Runway's API, for tests, the demo and
// benchmarks.
//
//   runway-sim --config FILE [--port N] [--port-file PATH] [--tls-cert PEM --tls-key PEM]
//
// Prints "runway-sim listening on 127.0.0.1:PORT" once it accepts connections, writes
// the port to --port-file atomically (temp file + rename: a reader never sees a partial
// file), and exits 0 on SIGINT/SIGTERM. A bad command line, config or TLS file is one
// line on stderr and exit 2.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "ledger/pricing.h"
#include "sim/api.h"
#include "sim/config.h"
#include "sim/server.h"

namespace {

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return static_cast<bool>(in) || in.eof();
}

bool WritePortFile(const std::string& path, uint16_t port) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, getpid());
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return false;
  const bool ok = std::fprintf(f, "%u\n", static_cast<unsigned>(port)) > 0 && std::fflush(f) == 0 &&
                  fsync(fileno(f)) == 0;
  if (std::fclose(f) != 0 || !ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"runway-sim: a local simulator of Runway's task API"};
  std::string config_path, port_file, tls_cert, tls_key;
  unsigned port = 0;
  app.add_option("--config", config_path, "TOML configuration file")->required();
  app.add_option("--port", port, "TCP port on 127.0.0.1 (0: pick a free one)")->check(CLI::Range(0u, 65535u));
  app.add_option("--port-file", port_file, "write the listening port to this file");
  auto* cert_opt = app.add_option("--tls-cert", tls_cert, "PEM certificate: serve HTTPS");
  auto* key_opt = app.add_option("--tls-key", tls_key, "PEM private key: serve HTTPS");
  cert_opt->needs(key_opt);
  key_opt->needs(cert_opt);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "runway-sim: %s\n", e.what());
    return 2;
  }

  runwayd::sim::SimConfig config;
  std::string error;
  if (!runwayd::sim::LoadConfig(config_path, &config, &error)) {
    for (char& ch : error) ch = ch == '\n' ? ' ' : ch;  // the promise is one line
    std::fprintf(stderr, "runway-sim: bad config: %s\n", error.c_str());
    return 2;
  }
  runwayd::sim::ServerOptions options;
  options.port = static_cast<uint16_t>(port);
  if (!tls_cert.empty() &&
      (!ReadFile(tls_cert, &options.tls_cert_pem) || !ReadFile(tls_key, &options.tls_key_pem))) {
    std::fprintf(stderr, "runway-sim: cannot read %s or %s\n", tls_cert.c_str(), tls_key.c_str());
    return 2;
  }

  // Thousands of keep-alive connections need descriptors: take the hard limit.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  // Block the stop signals before any thread starts so that every thread inherits the
  // mask and only sigwait() below sees them; ignore SIGPIPE from peers that hang up.
  signal(SIGPIPE, SIG_IGN);
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  runwayd::sim::Api api(config, runwayd::ledger::PriceTable::Defaults(), &NowUs);
  runwayd::sim::Server server(&api);
  if (!server.Start(options, &error)) {
    std::fprintf(stderr, "runway-sim: %s\n", error.c_str());
    return 2;
  }
  if (!port_file.empty() && !WritePortFile(port_file, server.port())) {
    std::fprintf(stderr, "runway-sim: cannot write the port file %s\n", port_file.c_str());
    return 2;
  }
  std::printf("runway-sim listening on 127.0.0.1:%u\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  server.Stop();
  return 0;
}
