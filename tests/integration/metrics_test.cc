// tests/integration/metrics_test.cc — the Prometheus alert rules (docs/alerts.yml):
// promtool accepts them, they fire (and stay quiet) on synthetic series as
// docs/operations.md says, and docs/operations.md shows exactly the file's rules.
// Needs promtool (Debian package prometheus: RUNWAYD_DEPS_EXTRA=ops scripts/deps);
// skipped without it, except the documentation check.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "harness.h"

namespace {

const std::string kSource = RUNWAYD_SOURCE_DIR;

// Runs a shell command; returns its exit code (-1: not run or killed) and its
// stdout followed by its stderr.
int RunCommand(const std::string& cmd, std::string* out) {
  harness::ShellRun r = harness::RunShell(cmd);
  *out += r.out + r.err;
  return r.rc;
}

bool HavePromtool() { return std::system("command -v promtool >/dev/null 2>&1") == 0; }

TEST(OpsAlerts, PromtoolChecksTheRules) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool is not installed (package prometheus)";
  std::string out;
  EXPECT_EQ(RunCommand("promtool check rules " + kSource + "/docs/alerts.yml", &out), 0) << out;
  EXPECT_NE(out.find("SUCCESS: 6 rules found"), std::string::npos) << out;
}

// Synthetic series, one sample a minute, and what each alert must do with them.
constexpr const char* kRuleTests = R"(
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'runwayd_ready{job="runwayd",instance="a:9464"}'
        values: '1x10 0x20'
      - series: 'runwayd_ready{job="runwayd",instance="b:9464"}'
        values: '0x30'
      - series: 'runwayd_queue_depth{job="runwayd",instance="a:9464"}'
        values: '5x40'
      - series: 'runwayd_queue_depth{job="runwayd",instance="b:9464"}'
        values: '5x40'
      - series: 'runwayd_jobs_taken_total{job="runwayd",instance="a:9464"}'
        values: '0+1x10 10x30'
      - series: 'runwayd_jobs_taken_total{job="runwayd",instance="b:9464"}'
        values: '0x40'
      - series: 'runwayd_account_balance_estimate_credits{job="runwayd",instance="a:9464",account="main"}'
        values: '9000x5 4000x20'
      - series: 'runwayd_account_low_balance_credits{job="runwayd",instance="a:9464",account="main"}'
        values: '5000x30'
      - series: 'runwayd_account_balance_estimate_credits{job="runwayd",instance="a:9464",account="spare"}'
        values: '10x30'
      - series: 'runwayd_account_low_balance_credits{job="runwayd",instance="a:9464",account="spare"}'
        values: '0x30'
      - series: 'runwayd_outcome_unknown_total{job="runwayd",instance="a:9464"}'
        values: '0x5 1x30'
      - series: 'runwayd_dead_depth{job="runwayd",instance="a:9464"}'
        values: '0x5 2x30'
      - series: 'runwayd_price_mismatch_total{job="runwayd",instance="a:9464",model="gen4_turbo"}'
        values: '0x5 3x30'
    alert_rule_test:
      - {eval_time: 9m, alertname: RunwaydNoReadyDaemon, exp_alerts: []}
      - eval_time: 17m
        alertname: RunwaydNoReadyDaemon
        exp_alerts:
          - exp_labels: {severity: critical}
            exp_annotations:
              summary: "No runwayd daemon is ready"
              description: "No scraped runwayd reports runwayd_ready 1; see /readyz and journalctl -u runwayd."
      - {eval_time: 15m, alertname: RunwaydQueueStuck, exp_alerts: []}
      - eval_time: 22m
        alertname: RunwaydQueueStuck
        exp_alerts:
          - exp_labels: {severity: critical, job: runwayd}
            exp_annotations:
              summary: "runwayd queue is stuck"
              description: "5 jobs are queued and none was taken in 10 minutes."
      - {eval_time: 8m, alertname: RunwaydLowBalance, exp_alerts: []}
      - eval_time: 12m
        alertname: RunwaydLowBalance
        exp_alerts:
          - exp_labels: {severity: warning, account: main}
            exp_annotations:
              summary: "Runway account main is low on credits"
              description: "Estimated balance 4000 credits, under the account's low_balance."
      - {eval_time: 4m, alertname: RunwaydOutcomeUnknown, exp_alerts: []}
      - eval_time: 7m
        alertname: RunwaydOutcomeUnknown
        exp_alerts:
          - exp_labels: {severity: warning, job: runwayd}
            exp_annotations:
              summary: "runwayd lost the answer of a create"
              description: "1 job(s) in 15 minutes ended as outcome_unknown; check the account's tasks and events."
      - {eval_time: 25m, alertname: RunwaydOutcomeUnknown, exp_alerts: []}
      - eval_time: 7m
        alertname: RunwaydDeadLetters
        exp_alerts:
          - exp_labels: {severity: warning, job: runwayd}
            exp_annotations:
              summary: "runwayd dead-letter list grew"
              description: "2 job(s) were added to <prefix>:dead in 15 minutes."
      - eval_time: 7m
        alertname: RunwaydPriceMismatch
        exp_alerts:
          - exp_labels: {severity: warning, model: gen4_turbo}
            exp_annotations:
              summary: "Price table out of date for gen4_turbo"
              description: "3 task(s) cost something else than the configured price in the last hour."
)";

TEST(OpsAlerts, RulesFireOnlyWhenTheyShould) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool is not installed (package prometheus)";
  char dir[] = "/tmp/runwayd-alerts-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string file = std::string(dir) + "/alerts_test.yml";
  harness::WriteFile(file, "rule_files:\n  - " + kSource + "/docs/alerts.yml\n" + kRuleTests);
  std::string out;
  EXPECT_EQ(RunCommand("promtool test rules " + file, &out), 0) << out;
  std::remove(file.c_str());
  rmdir(dir);
}

TEST(OpsAlerts, OperationsGuideShowsTheRulesFile) {
  const std::string rules = harness::ReadFile(kSource + "/docs/alerts.yml");
  const std::string guide = harness::ReadFile(kSource + "/docs/operations.md");
  ASSERT_FALSE(rules.empty());
  EXPECT_NE(guide.find("```yaml\n" + rules + "```\n"), std::string::npos)
      << "docs/operations.md must embed docs/alerts.yml verbatim in a ```yaml block";
}

}  // namespace
