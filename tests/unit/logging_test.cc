// tests/unit/logging_test.cc — a reload reconfigures the logger while other threads log.
//
// The metrics endpoint's thread logs through spdlog's default logger (its raw pointer).
// SetupLogging used to install a new logger on every reload, which freed the old one
// under that thread: a use-after-free (ASan reports it; the identity check below fails
// in any build).
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <thread>

#include "daemon/logging.h"

namespace {

TEST(Logging, AReloadChangesTheLoggerInPlaceWhileAnotherThreadLogs) {
  std::shared_ptr<spdlog::logger> before = spdlog::default_logger();
  runwayd::SetupLogging("warn", "text");
  spdlog::logger* installed = spdlog::default_logger_raw();
  std::atomic<bool> stop{false};
  std::atomic<long> calls{0};
  // Below the level: nothing is written, but every call reads the logger's level.
  std::thread other([&] {
    while (!stop.load()) {
      spdlog::debug("metrics endpoint: {}", calls.load());
      calls.fetch_add(1);
    }
  });
  while (calls.load() == 0) std::this_thread::yield();
  for (int i = 0; i < 500; ++i) {
    runwayd::SetupLogging(i % 2 ? "error" : "warn", i % 2 ? "json" : "text");
    EXPECT_EQ(spdlog::default_logger_raw(), installed) << "reload " << i << " replaced the logger";
    if (spdlog::default_logger_raw() != installed) break;
  }
  stop = true;
  other.join();
  EXPECT_EQ(spdlog::default_logger_raw()->level(), spdlog::level::err);  // the last call's level
  spdlog::set_default_logger(before);
}

}  // namespace
