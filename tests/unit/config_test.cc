// tests/unit/config_test.cc — LoadConfig's checks of types and ranges: a value that is
// not what the key asks for is one error line naming the key, never a silent default
// or a conversion (docs/configuration.md: "A bad value is one line naming the key").
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "daemon/config.h"

namespace {

// Loads `toml` (with one account reading RUNWAYML_API_SECRET); returns LoadConfig's
// verdict, the error in *error.
bool Load(const std::string& toml, runwayd::Config* cfg, std::string* error) {
  char path[] = "/tmp/runwayd-config-test-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return false;
  close(fd);
  std::ofstream(path) << toml;
  setenv("RUNWAYML_API_SECRET", "key_config_test_0123456789", 1);
  runwayd::CliOverrides cli;
  cli.config_path = path;
  const bool ok = runwayd::LoadConfig(cli, cfg, error);
  unlink(path);
  return ok;
}

bool Refused(const std::string& toml, const std::string& key) {
  runwayd::Config cfg;
  std::string error;
  if (Load(toml, &cfg, &error)) return false;
  EXPECT_NE(error.find(key), std::string::npos) << error;
  return true;
}

TEST(Config, TheDefaultsLoad) {
  runwayd::Config cfg;
  std::string error;
  ASSERT_TRUE(Load("", &cfg, &error)) << error;
  EXPECT_EQ(cfg.accounts.size(), 1u);
  EXPECT_EQ(cfg.accounts[0].key, "key_config_test_0123456789");
}

// TOML has nan: every comparison with it is false, so a range check written as
// `v < lo || v > hi` let it through, and a NaN time scale, poll budget or price
// duration then reached integer conversions (undefined behaviour) and prices.
TEST(Config, NanIsNotANumberInRange) {
  EXPECT_TRUE(Refused("[daemon]\ntime_scale = nan\n", "daemon.time_scale"));
  EXPECT_TRUE(Refused("[polling]\nmax_rps_per_account = nan\n", "polling.max_rps_per_account"));
  EXPECT_TRUE(Refused("[prices.gen4_turbo]\ndefault_duration_s = nan\n", "prices.gen4_turbo.default_duration_s"));
  EXPECT_TRUE(Refused("[daemon]\ntime_scale = inf\n", "daemon.time_scale"));
}

// toml++'s value<T>() converts between types: a boolean read as an integer is 0 or 1,
// an integer read as a boolean is true unless 0. "must be an integer" and "must be
// true or false" have to mean it: `max_create_retries = false` is not 0 retries, and
// `allow_unknown_models = 1` is not a decision to let any model through.
TEST(Config, ABooleanIsNotAnIntegerNorAnIntegerABoolean) {
  EXPECT_TRUE(Refused("[jobs]\nmax_create_retries = false\n", "jobs.max_create_retries"));
  EXPECT_TRUE(Refused("[prices.gen4_turbo]\nper_second = true\n", "prices.gen4_turbo.per_second"));
  EXPECT_TRUE(Refused("[[account]]\nname = \"a\"\nkey_env = \"RUNWAYML_API_SECRET\"\npriority = true\n",
                      "account.priority"));
  EXPECT_TRUE(Refused("[upstream]\nallow_unknown_models = 1\n", "upstream.allow_unknown_models"));
  runwayd::Config cfg;
  std::string error;
  ASSERT_TRUE(Load("[jobs]\nmax_create_retries = 0\n[upstream]\nallow_unknown_models = true\n", &cfg, &error))
      << error;
  EXPECT_EQ(cfg.max_create_retries, 0);
  EXPECT_TRUE(cfg.checks.allow_unknown_models);
}

}  // namespace
