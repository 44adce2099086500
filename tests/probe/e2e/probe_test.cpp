// `mvproxy probe` as an operator runs it: the real binary against the stand-in with an
// old (v1.30) and a new (v1.31) apiserver and a real mvproxy sidecar beside each.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../peers/e2e/cluster.hpp"

namespace {

using namespace std::chrono_literals;
using mvproxy::test::cluster;
using mvproxy::test::command_result;
using mvproxy::test::process;
using mvproxy::test::read_file;
using mvproxy::test::run_command;
using mvproxy::test::sidecar;
using mvproxy::test::stand_in;
using mvproxy::test::temp_dir;
using mvproxy::test::wait_until;

const char* const claims_v1alpha3 = "resourceclaims.v1alpha3.resource.k8s.io";

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The probe with stdout and stderr in files of their own (the JSON summary must be
// readable apart from the live table and notices).
class probe_run {
 public:
  probe_run(const std::filesystem::path& dir, const std::vector<std::string>& args)
      : out_(dir / "probe.out"), err_(dir / "probe.err") {
    std::string cmd = "exec " + shell_quote(sidecar::binary()) + " probe";
    for (const auto& a : args) cmd += " " + shell_quote(a);
    cmd += " >" + shell_quote(out_.string()) + " 2>" + shell_quote(err_.string());
    proc_ = std::make_unique<process>(std::vector<std::string>{"/bin/sh", "-c", cmd},
                                      dir / "probe.log");
  }
  std::string out() const { return read_file(out_); }
  std::string err() const { return read_file(err_); }
  process& proc() { return *proc_; }

 private:
  std::filesystem::path out_, err_;
  std::unique_ptr<process> proc_;
};

class Probe : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!stand_in::available()) GTEST_SKIP() << "stand-in not built: " << stand_in::binary();
    if (!sidecar::available()) GTEST_SKIP() << "mvproxy not built: " << sidecar::binary();
    c_ = std::make_unique<cluster>();
    c_->start("old");
    c_->start("new");
    // Each sidecar's merged discovery must hold the other's resources before the run.
    ASSERT_TRUE(c_->wait_peers("old", 1)) << c_->at("old").admin("/debug/peers");
    ASSERT_TRUE(c_->wait_peers("new", 1)) << c_->at("new").admin("/debug/peers");
  }

  std::vector<std::string> args(const std::vector<std::string>& extra) {
    std::vector<std::string> a = {
        "--kubeconfig=" + c_->pki("admin.conf"),
        "--sidecars=old=127.0.0.1:" + std::to_string(c_->at("old").port()) +
            ",new=127.0.0.1:" + std::to_string(c_->at("new").port()),
        // Fast enough that every resource is asked through both sidecars within 3 s.
        "--rate=200", "--interval=1s"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  std::unique_ptr<cluster> c_;
};

// The summary line of a resource, split into its cells (columns are two spaces or
// more apart; a cell like "1/2 5xx:1" has single spaces).
std::vector<std::string> summary_row(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + " ", 0) != 0) continue;
    std::vector<std::string> cells;
    std::string rest = line.substr(name.size());
    std::regex sep("  +");
    for (std::sregex_token_iterator it(rest.begin(), rest.end(), sep, -1), end; it != end; ++it) {
      if (!it->str().empty()) cells.push_back(it->str());
    }
    return cells;
  }
  return {};
}

// "n/n" with n > 0: every request answered 2xx.
bool all_of_at_least_one(const std::string& cell) {
  std::smatch m;
  return std::regex_match(cell, m, std::regex("(\\d+)/(\\d+)")) && m[1] == m[2] && m[1] != "0";
}

TEST_F(Probe, NewOnlyResourceAvailableThroughBothSidecars) {
  probe_run p(c_->dir(), args({"--duration=3s"}));
  auto rc = p.proc().wait_exit(30s);
  auto out = p.out();
  std::cout << out;
  ASSERT_TRUE(rc.has_value()) << "probe did not stop after --duration";
  EXPECT_EQ(*rc, 0) << out << p.err();

  // A v1.31-only resource, available through the old sidecar as through the new one.
  auto row = summary_row(out, claims_v1alpha3);
  ASSERT_EQ(row.size(), 2u) << out;
  EXPECT_TRUE(all_of_at_least_one(row[0])) << row[0];
  EXPECT_TRUE(all_of_at_least_one(row[1])) << row[1];
  auto pods = summary_row(out, "pods.v1");
  ASSERT_EQ(pods.size(), 2u) << out;
  EXPECT_TRUE(all_of_at_least_one(pods[0]) && all_of_at_least_one(pods[1])) << out;
  EXPECT_NE(out.find("result: every request succeeded"), std::string::npos) << out;
  // Without a terminal the live table is a short block per --interval.
  EXPECT_NE(out.find("mvproxy probe  elapsed "), std::string::npos) << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos);

  // Read-only: everything the probe's identity asked of the apiservers was a GET.
  std::size_t seen = 0;
  for (const auto& entry : c_->served("/")) {
    if (entry.value("user", nlohmann::json()) != "kubernetes-admin") continue;
    ++seen;
    EXPECT_EQ(entry["method"], "GET") << entry.dump();
  }
  EXPECT_GT(seen, 100u);
}

// mvproxy_probe_requests_total samples for v1alpha3 resourceclaims LISTs through `sidecar`
// whose code matches `code_regex`.
bool metric_seen(const std::string& metrics, const std::string& sidecar_id,
                 const std::string& code_regex) {
  std::regex re("mvproxy_probe_requests_total\\{sidecar=\"" + sidecar_id +
                "\",group=\"resource.k8s.io\",version=\"v1alpha3\",resource=\"resourceclaims\","
                "verb=\"list\",code=\"" +
                code_regex + "\"\\} [1-9]");
  return std::regex_search(metrics, re);
}

TEST_F(Probe, StoppedApiserverShowsInSummaryMetricsAndExitStatus) {
  // A few resources, so each is asked again within a fraction of a second.
  probe_run p(c_->dir(), args({"--duration=90s", "--interval=1s", "--output=json",
                               "--metrics-address=127.0.0.1:0",
                               "--resources=resourceclaims.resource.k8s.io,pods"}));
  std::smatch m;
  std::string err;
  ASSERT_TRUE(wait_until(
      [&] {
        err = p.err();
        return std::regex_search(err, m, std::regex("metrics listening on 127\\.0\\.0\\.1:(\\d+)"));
      },
      10s))
      << err;
  std::string url = "http://127.0.0.1:" + m[1].str() + "/metrics";
  auto metrics = [&] { return run_command("curl -s " + url).output; };

  // Both sidecars serve v1alpha3 resourceclaims (from the new apiserver) ...
  ASSERT_TRUE(wait_until(
      [&] {
        auto t = metrics();
        return metric_seen(t, "old", "200") && metric_seen(t, "new", "200");
      },
      15s))
      << metrics();
  EXPECT_NE(metrics().find("mvproxy_probe_resources{sidecar=\"old\"}"), std::string::npos);
  if (run_command("command -v promtool").exit_code == 0) {
    auto lint = run_command("curl -s " + url + " | promtool check metrics");
    EXPECT_EQ(lint.exit_code, 0) << lint.output;
  }
  // ... until the only apiserver that serves it goes away.
  c_->api().control("new", "stop");
  ASSERT_TRUE(wait_until(
      [&] {
        auto t = metrics();
        return metric_seen(t, "old", "(?!2)\\w+") && metric_seen(t, "new", "(?!2)\\w+");
      },
      45s))
      << metrics();

  // The live table goes to stderr every --interval; a fast machine sees the failures
  // before the first one, so wait for it (it is asserted below).
  ASSERT_TRUE(
      wait_until([&] { return p.err().find("mvproxy probe  elapsed ") != std::string::npos; }, 15s))
      << p.err();

  // SIGINT ends the run early, with the summary.
  p.proc().signal(SIGINT);
  auto rc = p.proc().wait_exit(10s);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 1) << p.out();
  auto j = nlohmann::json::parse(p.out(), nullptr, false);
  ASSERT_TRUE(j.is_object()) << p.out();
  std::cout << j.dump(1).substr(0, 1500) << "\n";
  EXPECT_EQ(j["ok"], false);
  EXPECT_GT(j["requests"]["total"].get<int>(), j["requests"]["ok"].get<int>());
  const nlohmann::json* claims = nullptr;
  for (const auto& r : j["resources"]) {
    if (r["name"] == claims_v1alpha3) claims = &r;
  }
  ASSERT_NE(claims, nullptr) << p.out();
  // --resources: v1alpha2 and v1alpha3 resourceclaims and pods, nothing else.
  EXPECT_EQ(j["resources"].size(), 3u) << p.out();
  for (const char* id : {"old", "new"}) {
    const auto& cell = (*claims)["sidecars"][id];
    EXPECT_GT(cell["ok"].get<int>(), 0) << id << " " << cell.dump();
    EXPECT_GT(cell["total"].get<int>(), cell["ok"].get<int>()) << id << " " << cell.dump();
    EXPECT_LT(cell["availability"].get<double>(), 1.0) << id;
  }
  // The live table went to stderr, so stdout is the JSON alone.
  EXPECT_NE(p.err().find("mvproxy probe  elapsed "), std::string::npos);
}

// On a terminal the table is redrawn in place every second, sized to the terminal.
TEST_F(Probe, LiveTableRedrawsOnATerminal) {
  if (run_command("command -v script").exit_code != 0) GTEST_SKIP() << "no script(1) for a pty";
  auto typescript = c_->dir() / "typescript";
  std::string cmd = "stty rows 20 cols 120; exec " + shell_quote(sidecar::binary()) + " probe";
  for (const auto& a : args({"--duration=2500ms"})) cmd += " " + shell_quote(a);
  auto r = run_command("script -qec " + shell_quote(cmd) + " " + shell_quote(typescript.string()) +
                       " </dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto text = read_file(typescript);
  auto frames = text.find("\x1b[H\x1b[2J");
  ASSERT_NE(frames, std::string::npos) << text;
  auto last = text.rfind("\x1b[H\x1b[2J");
  EXPECT_NE(frames, last) << "one frame only";
  // The last frame: 20 lines at most before the summary, healthy rows filling the space.
  auto frame = text.substr(last, text.find("mvproxy probe summary:", last) - last);
  EXPECT_LE(std::count(frame.begin(), frame.end(), '\n'), 20) << frame;
  EXPECT_NE(frame.find("(answers)"), std::string::npos) << frame;
  EXPECT_NE(frame.find("componentstatuses.v1 "), std::string::npos) << frame;
  EXPECT_NE(frame.find("resources not shown, none below 100% in the window)"), std::string::npos)
      << frame;
  EXPECT_NE(text.find("result: every request succeeded"), std::string::npos) << text;
}

// Bad input of any kind: one line naming the flag, exit 2, before any request.
TEST(ProbeCommandLine, BadInputIsOneLineAndExitTwo) {
  if (!sidecar::available()) GTEST_SKIP() << "mvproxy not built: " << sidecar::binary();
  temp_dir dir;
  auto bin = shell_quote(sidecar::binary());
  struct row {
    std::string args;
    std::string line;
  };
  for (const auto& c : std::vector<row>{
           {"", "mvproxy probe: --kubeconfig: required\n"},
           {"--kubeconfig=x --sidecars=a=127.0.0.1:1 --rate=abc",
            "mvproxy probe: --rate: \"abc\" is not a number\n"},
           {"--kubeconfig=" + (dir.path() / "missing.conf").string() + " --sidecars=a=127.0.0.1:1",
            "mvproxy probe: --kubeconfig: kubeconfig " + (dir.path() / "missing.conf").string() +
                ": bad file: " + (dir.path() / "missing.conf").string() + "\n"},
       }) {
    auto r = run_command(bin + " probe " + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args;
    EXPECT_EQ(r.output, c.line) << c.args;
  }
}

TEST(ProbeCommandLine, UnusableCertificatesAndBusyMetricsPort) {
  if (!sidecar::available()) GTEST_SKIP() << "mvproxy not built: " << sidecar::binary();
  temp_dir dir;
  mvproxy::test::make_pki(dir.path(), {});
  auto bin = shell_quote(sidecar::binary());
  // A kubeconfig whose client certificate file is not a certificate.
  auto conf = read_file(dir.path() / "admin.conf");
  auto broken = std::regex_replace(conf, std::regex("admin\\.crt"), "tokens.csv");
  std::ofstream(dir.path() / "broken.conf") << broken;
  auto r = run_command(bin + " probe --sidecars=a=127.0.0.1:1 --kubeconfig=" +
                       (dir.path() / "broken.conf").string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(r.output.rfind(
                "mvproxy probe: --kubeconfig: " + (dir.path() / "broken.conf").string() + ": ", 0),
            0u)
      << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

  // The metrics port is taken by a first probe (probing a closed port meanwhile).
  std::vector<std::string> a = {"--kubeconfig=" + (dir.path() / "admin.conf").string(),
                                "--sidecars=a=127.0.0.1:1", "--metrics-address=127.0.0.1:0"};
  probe_run first(dir.path(), a);
  std::smatch m;
  std::string err;
  ASSERT_TRUE(wait_until(
      [&] {
        err = first.err();
        return std::regex_search(err, m, std::regex("metrics listening on 127\\.0\\.0\\.1:(\\d+)"));
      },
      10s))
      << err;
  auto busy = run_command(
      bin + " probe --sidecars=a=127.0.0.1:1 --kubeconfig=" + (dir.path() / "admin.conf").string() +
      " --metrics-address=127.0.0.1:" + m[1].str());
  EXPECT_EQ(busy.exit_code, 2) << busy.output;
  EXPECT_EQ(
      busy.output.rfind("mvproxy probe: --metrics-address: 127.0.0.1:" + m[1].str() + ": ", 0), 0u)
      << busy.output;
  // A sidecar that refuses connections: the run fails, and says so.
  first.proc().signal(SIGTERM);
  auto rc = first.proc().wait_exit(10s);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 1);
  EXPECT_NE(first.out().find("(discovery)"), std::string::npos) << first.out();
  EXPECT_NE(first.out().find("last failure via a: GET /api: "), std::string::npos) << first.out();
}

TEST(ProbeCommandLine, HelpListsTheFlags) {
  if (!sidecar::available()) GTEST_SKIP() << "mvproxy not built: " << sidecar::binary();
  auto r = run_command(shell_quote(sidecar::binary()) + " probe --help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* f :
       {"--kubeconfig", "--sidecars", "--server-name", "--rate", "--interval", "--window",
        "--duration", "--timeout", "--metrics-address", "--namespace", "--resources", "--output"}) {
    EXPECT_NE(r.output.find(f), std::string::npos) << f;
  }
}

}  // namespace
