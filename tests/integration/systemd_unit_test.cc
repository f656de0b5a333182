// tests/integration/systemd_unit_test.cc — systemd/runwayd.service and its example
// configuration systemd/runwayd.toml: systemd-analyze rates the unit's exposure 1.5 or
// lower and finds nothing wrong in it, and the example configuration loads with the
// key from $CREDENTIALS_DIRECTORY as systemd's LoadCredential= provides it. The unit
// checks need systemd-analyze (Debian package systemd; it runs offline, without a
// running systemd) and are skipped without it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <regex>

#include "daemon/config.h"
#include "harness.h"

namespace {

const std::string kSource = RUNWAYD_SOURCE_DIR;
const std::string kUnit = kSource + "/systemd/runwayd.service";

// Runs a shell command; returns its exit code (-1: not run or killed) and its
// stdout followed by its stderr.
int RunCommand(const std::string& cmd, std::string* out) {
  harness::ShellRun r = harness::RunShell(cmd);
  *out += r.out + r.err;
  return r.rc;
}

bool HaveSystemdAnalyze() { return std::system("command -v systemd-analyze >/dev/null 2>&1") == 0; }

std::string TempDir() {
  char dir[] = "/tmp/runwayd-unit-XXXXXX";
  return mkdtemp(dir) ? std::string(dir) : std::string();
}

TEST(SystemdUnit, ExposureIsOkOrBetter) {
  if (!HaveSystemdAnalyze()) GTEST_SKIP() << "systemd-analyze is not installed (package systemd)";
  std::string out;
  const int rc = RunCommand("SYSTEMD_COLORS=0 systemd-analyze security --no-pager --offline=yes " + kUnit, &out);
  // "→ Overall exposure level for runwayd.service: 1.1 OK 🙂"
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(Overall exposure level for runwayd\.service: ([0-9.]+))")))
      << "exit " << rc << ":\n" << out;
  const double exposure = std::stod(m[1].str());
  EXPECT_LE(exposure, 1.5) << out;
}

TEST(SystemdUnit, VerifiesCleanly) {
  if (!HaveSystemdAnalyze()) GTEST_SKIP() << "systemd-analyze is not installed (package systemd)";
  // verify wants ExecStart's program to exist: point it at the build's runwayd.
  const std::string dir = TempDir();
  ASSERT_FALSE(dir.empty());
  std::string unit = harness::ReadFile(kUnit);
  const std::string from = "ExecStart=/usr/bin/runwayd ";
  const size_t at = unit.find(from);
  ASSERT_NE(at, std::string::npos);
  unit.replace(at, from.size(), "ExecStart=" + harness::Bin("runwayd") + " ");
  harness::WriteFile(dir + "/runwayd.service", unit);
  std::string out;
  EXPECT_EQ(RunCommand("SYSTEMD_COLORS=0 systemd-analyze verify " + dir + "/runwayd.service", &out), 0) << out;
  EXPECT_EQ(out, "");
  unlink((dir + "/runwayd.service").c_str());
  rmdir(dir.c_str());
}

TEST(SystemdUnit, DeclaresWhatTheOperationsGuideSays) {
  const std::string unit = harness::ReadFile(kUnit);
  for (const char* line : {"Type=notify\n", "ExecStart=/usr/bin/runwayd --config /etc/runwayd/runwayd.toml\n",
                           "ExecReload=/bin/kill -HUP $MAINPID\n", "WatchdogSec=30\n", "Restart=on-failure\n",
                           "RestartSec=2\n", "TimeoutStopSec=10\n", "DynamicUser=yes\n",
                           "LoadCredential=main:/etc/runwayd/credentials/main\n",
                           "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n"})
    EXPECT_NE(unit.find(line), std::string::npos) << line;
}

TEST(SystemdUnit, ExampleConfigurationLoadsWithTheCredential) {
  const std::string dir = TempDir();
  ASSERT_FALSE(dir.empty());
  harness::WriteFile(dir + "/main", "key_example_0123456789\n");
  const char* saved = getenv("CREDENTIALS_DIRECTORY");
  const std::string saved_value = saved ? saved : "";
  setenv("CREDENTIALS_DIRECTORY", dir.c_str(), 1);
  runwayd::CliOverrides cli;
  cli.config_path = kSource + "/systemd/runwayd.toml";
  runwayd::Config cfg;
  std::string error;
  const bool ok = runwayd::LoadConfig(cli, &cfg, &error);
  if (saved) setenv("CREDENTIALS_DIRECTORY", saved_value.c_str(), 1);
  else unsetenv("CREDENTIALS_DIRECTORY");
  unlink((dir + "/main").c_str());
  rmdir(dir.c_str());
  ASSERT_TRUE(ok) << error;
  ASSERT_EQ(cfg.accounts.size(), 1u);
  EXPECT_EQ(cfg.accounts[0].name, "main");
  EXPECT_EQ(cfg.accounts[0].key, "key_example_0123456789");
  EXPECT_EQ(cfg.accounts[0].key_source, "file main");
  EXPECT_EQ(cfg.base_url, "https://api.dev.runwayml.com");
}

}  // namespace
