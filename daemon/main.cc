// daemon/main.cc — runwayd's entry point: command line, configuration, logging, loop.
//
// Exit codes: 0 after a clean stop (SIGINT/SIGTERM), 2 for a bad command line or
// configuration (reported in one line before anything starts), 1 for a loop that
// did not close cleanly.
#include <CLI/CLI.hpp>
#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <csignal>
#include <cstdio>

#include "daemon/engine.h"
#include "daemon/logging.h"

int main(int argc, char** argv) {
  runwayd::CliOverrides cli;
  CLI::App app{"runwayd: Redis-queued video generation jobs to the Runway API, with exact refunds"};
  app.add_option("-c,--config", cli.config_path, "configuration file (TOML)")->check(CLI::ExistingFile);
  app.add_option("--redis", cli.redis_url, "redis://[user:pass@]host:port[/db] or unix:///path");
  app.add_option("--prefix", cli.prefix, "key prefix (default runway)");
  app.add_option("--base-url", cli.base_url, "Runway API base URL");
  app.add_option("--log-level", cli.log_level, "trace, debug, info, warn, error, off");
  app.add_option("--log-format", cli.log_format, "text or json");
  app.add_option("--id", cli.daemon_id, "daemon id (default: the host name)");
  app.add_option("--metrics", cli.metrics_listen, "metrics endpoint host:port, or off (default 127.0.0.1:9464)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  runwayd::Config cfg;
  std::string error;
  if (!runwayd::LoadConfig(cli, &cfg, &error)) {
    fprintf(stderr, "runwayd: %s\n", error.c_str());
    return 2;
  }
  // A peer that resets a connection must cost an EPIPE, not the process: hiredis writes
  // with write(2), which raises SIGPIPE (curl and libmicrohttpd use MSG_NOSIGNAL).
  // systemd ignores it for services by default; a daemon started by anything else
  // must not depend on that.
  signal(SIGPIPE, SIG_IGN);
  runwayd::SetupLogging(cfg.log_level, cfg.log_format);
  std::string config_path = cli.config_path;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "runwayd: curl_global_init failed\n");
    return 1;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  int rc;
  {
    runwayd::Engine engine(&loop, std::move(cfg), cli);
    rc = engine.Run();
  }
  int close_rc = uv_loop_close(&loop);
  if (close_rc != 0) {
    spdlog::error("event loop did not close cleanly: {}", uv_strerror(close_rc));
    rc = 1;
  }
  runwayd::FlushLogs();
  curl_global_cleanup();
  return rc;
}
