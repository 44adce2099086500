// The control plane against the stand-in apiserver: local discovery sync in every
// format, a version switch seen within one sync interval, and Lease membership
// (publish, see each other, graceful delete, expiry).

#include "mvproxy/control/control_plane.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "mvproxy/membership/lease.hpp"
#include "mvproxy/metrics/registry.hpp"
#include "stand_in.hpp"

namespace mvproxy::control {
namespace {

using namespace std::chrono_literals;
using view::cluster_state;

class control_plane_test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::stand_in::available())
      GTEST_SKIP() << "stand-in not built: " << test::stand_in::binary();
    test::make_pki(dir_.path(), {"old", "new", "legacy"});
    stand_in_ = std::make_unique<test::stand_in>(
        dir_.path(), dir_.path(),
        std::vector<test::stand_in_instance>{
            {"old", "v1.30"}, {"new", "v1.31"}, {"legacy", "v1.21-legacy"}});
  }

  config::config base_config(const std::string& instance, const std::string& id) {
    config::config c;
    c.server_id = id;
    c.upstream = stand_in_->url(instance);
    c.upstream_ca_file = (dir_.path() / "ca.crt").string();
    c.proxy_client_cert_file = (dir_.path() / "front-proxy-client.crt").string();
    c.proxy_client_key_file = (dir_.path() / "front-proxy-client.key").string();
    c.peer_ca_file = (dir_.path() / "ca.crt").string();
    c.peer_server_name = "kubernetes.default.svc";
    c.discovery_sync_interval = 200ms;
    c.peer_discovery = config::peer_discovery_mode::static_list;
    return c;
  }

  test::temp_dir dir_;
  std::unique_ptr<test::stand_in> stand_in_;
};

TEST_F(control_plane_test, syncs_local_aggregated_discovery_and_sees_a_version_switch) {
  auto cfg = base_config("old", "a");
  cluster_state state("a");
  metrics::registry reg;
  control_plane cp(cfg, state, &reg);
  EXPECT_FALSE(cp.ready());
  cp.start();
  ASSERT_TRUE(test::wait_until([&] { return cp.ready(); }));
  auto v = state.current();
  ASSERT_TRUE(v->local);
  EXPECT_EQ(v->local_sync.source, "aggregated v2");
  EXPECT_TRUE(v->local->serves("resource.k8s.io", "v1alpha2", "resourceclaims"));
  EXPECT_FALSE(v->local->serves("resource.k8s.io", "v1alpha3", "resourceclaims"));
  EXPECT_TRUE(v->local->serves("", "v1", "pods", "exec"));
  EXPECT_EQ(v->local_sync.etag.front(), '"');

  // The instance restarts as v1.31: seen within one sync interval (plus the fetch).
  auto r = stand_in_->control("old", "profile?name=v1.31");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(test::wait_until(
      [&] {
        return state.current()->local->serves("resource.k8s.io", "v1alpha3", "resourceclaims");
      },
      2s));
  // Unchanged documents cost 304s: the model pointer stays the same between syncs.
  auto before = state.current()->local;
  auto syncs = state.current()->local_sync.syncs;
  ASSERT_TRUE(test::wait_until([&] { return state.current()->local_sync.syncs >= syncs + 2; }, 3s));
  EXPECT_EQ(state.current()->local.get(), before.get());
  EXPECT_NE(
      reg.render().find("mvproxy_discovery_syncs_total{server=\"local\",result=\"unchanged\"}"),
      std::string::npos);
  cp.stop();
}

TEST_F(control_plane_test, falls_back_to_legacy_discovery_for_old_apiservers) {
  auto cfg = base_config("legacy", "a");
  cluster_state state("a");
  control_plane cp(cfg, state, nullptr);
  cp.start();
  ASSERT_TRUE(test::wait_until([&] { return cp.ready(); }));
  auto v = state.current();
  EXPECT_EQ(v->local_sync.source, "legacy");
  EXPECT_TRUE(v->local->serves("apps", "v1", "deployments", "scale"));
  EXPECT_TRUE(v->local->serves("batch", "v1beta1", "cronjobs"));
  EXPECT_TRUE(v->local->serves("", "v1", "pods", "log"));
  cp.stop();
}

TEST_F(control_plane_test, a_failed_sync_keeps_the_last_good_model_and_counts_the_error) {
  auto cfg = base_config("old", "a");
  cluster_state state("a");
  metrics::registry reg;
  auto& errors = reg.add_counter("apiserver_peer_discovery_sync_errors_total", "e", {"type"});
  control_plane cp(cfg, state, &reg, &errors);
  cp.start();
  ASSERT_TRUE(test::wait_until([&] { return cp.ready(); }));
  auto good = state.current()->local;
  ASSERT_EQ(stand_in_->control("old", "fail?code=503").exit_code, 0);
  ASSERT_TRUE(test::wait_until([&] { return state.current()->local_sync.errors > 0; }, 3s));
  EXPECT_EQ(state.current()->local.get(), good.get());
  EXPECT_FALSE(state.current()->local_sync.last_error.empty());
  // The local apiserver answered, with an error: mvproxy's series says so; upstream's
  // counts peers' discovery only, so it has no sample.
  auto text = reg.render();
  EXPECT_NE(text.find("mvproxy_discovery_sync_errors_total{server=\"local\",type=\"failed\"}"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("apiserver_peer_discovery_sync_errors_total{"), std::string::npos) << text;
  ASSERT_EQ(stand_in_->control("old", "heal").exit_code, 0);
  ASSERT_TRUE(test::wait_until([&] { return state.current()->local_sync.last_error.empty(); }, 3s));
  cp.stop();
}

TEST_F(control_plane_test, static_peers_are_synced_through_their_address) {
  // The "peer sidecar" here is the new instance itself: it answers discovery as a
  // sidecar answers a peer's nopeer read, with its own apiserver's view.
  auto cfg = base_config("old", "a");
  cfg.peers = {{"b", "127.0.0.1", static_cast<std::uint16_t>(stand_in_->port("new"))}};
  cluster_state state("a");
  control_plane cp(cfg, state, nullptr);
  cp.start();
  ASSERT_TRUE(test::wait_until([&] {
    auto v = state.current();
    return v->peers.size() == 1 && v->peers[0].model != nullptr;
  }));
  auto v = state.current();
  EXPECT_EQ(v->peers[0].endpoint.id, "b");
  EXPECT_EQ(v->peers[0].sync.source, "aggregated v2");
  EXPECT_TRUE(v->peers[0].model->serves("resource.k8s.io", "v1alpha3", "resourceclaims"));
  // Peer reads are marked as peer-proxied so that sidecar answers from its own apiserver.
  auto log = test::read_file(stand_in_->request_log());
  EXPECT_NE(log.find("\"instance\":\"new\""), std::string::npos);
  cp.stop();
}

TEST_F(control_plane_test, a_peer_that_cannot_be_read_counts_as_upstreams_fetch_discovery) {
  auto cfg = base_config("old", "a");
  cfg.peers = {{"b", "127.0.0.1", static_cast<std::uint16_t>(stand_in_->port("new"))}};
  cfg.peer_server_name = "not-in-the-certificate.invalid";  // every read fails its TLS check
  cluster_state state("a");
  metrics::registry reg;
  auto& errors = reg.add_counter("apiserver_peer_discovery_sync_errors_total", "e", {"type"});
  control_plane cp(cfg, state, &reg, &errors);
  cp.start();
  ASSERT_TRUE(test::wait_until([&] { return errors.with({"fetch_discovery"}).value() >= 1; }));
  auto text = reg.render();
  EXPECT_NE(text.find("mvproxy_discovery_sync_errors_total{server=\"b\",type=\"unreachable\"}"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("apiserver_peer_discovery_sync_errors_total{type=\"peer\"}"),
            std::string::npos);
  cp.stop();
}

TEST_F(control_plane_test, lease_failures_count_as_upstreams_lease_list_and_hostport_resolution) {
  auto cfg = base_config("old", "a");
  cfg.peer_discovery = config::peer_discovery_mode::lease;
  cfg.peer_advertise_ip = "127.0.0.1";
  cfg.peer_advertise_port = static_cast<std::uint16_t>(stand_in_->port("old"));
  // Renewals far apart, so a list woken in between runs on its own.
  cfg.lease_duration = 60s;
  cfg.lease_renew_interval = 30s;
  cluster_state state("a");
  metrics::registry reg;
  auto& errors = reg.add_counter("apiserver_peer_discovery_sync_errors_total", "e", {"type"});
  control_plane cp(cfg, state, &reg, &errors);
  cp.start();
  auto rendered = [&] { return reg.render(); };
  ASSERT_TRUE(test::wait_until([&] {
    return rendered().find("mvproxy_lease_operations_total{operation=\"list\",result=\"ok\"}") !=
           std::string::npos;
  }));

  // A live peer Lease whose address has no port: not a peer, and counted.
  membership::own_lease broken;
  broken.server_id = "broken";
  broken.namespace_name = "kube-system";
  broken.holder_identity = "broken_1";
  broken.advertise_address = "10.0.0.9";
  broken.lease_duration_seconds = 60;
  broken.acquire_time = broken.renew_time = std::chrono::system_clock::now();
  auto body = dir_.path() / "broken-lease.json";
  std::ofstream(body) << membership::build_lease_json(broken);
  auto created = test::run_command(
      "curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' "
      "--data @" +
      body.string() + " --cacert " + (dir_.path() / "ca.crt").string() + " --cert " +
      (dir_.path() / "admin.crt").string() + " --key " + (dir_.path() / "admin.key").string() +
      " " + stand_in_->url("old") + "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases");
  ASSERT_EQ(created.output, "201") << created.output;
  ASSERT_TRUE(test::wait_until([&] { return errors.with({"hostport_resolution"}).value() >= 1; }));
  EXPECT_TRUE(state.current()->peers.empty());

  // The apiserver fails the next list (woken before the next renewal).
  ASSERT_EQ(stand_in_->control("old", "fail?code=503").exit_code, 0);
  cp.sync_now();
  ASSERT_TRUE(test::wait_until([&] { return errors.with({"lease_list"}).value() >= 1; }));
  EXPECT_NE(rendered().find("mvproxy_lease_operations_total{operation=\"list\",result=\"error\"}"),
            std::string::npos);
  ASSERT_EQ(stand_in_->control("old", "heal").exit_code, 0);
  cp.stop();
}

TEST_F(control_plane_test, lease_membership_publish_see_delete_and_expire) {
  auto cfg_a = base_config("old", "a");
  cfg_a.peer_discovery = config::peer_discovery_mode::lease;
  cfg_a.peer_advertise_ip = "127.0.0.1";
  cfg_a.peer_advertise_port = static_cast<std::uint16_t>(stand_in_->port("old"));
  cfg_a.lease_duration = 2s;
  cfg_a.lease_renew_interval = 500ms;
  auto cfg_b = cfg_a;
  cfg_b.server_id = "b";
  cfg_b.upstream = stand_in_->url("new");
  cfg_b.peer_advertise_port = static_cast<std::uint16_t>(stand_in_->port("new"));

  cluster_state state_a("a"), state_b("b");
  control_plane a(cfg_a, state_a, nullptr);
  a.start();
  {
    control_plane b(cfg_b, state_b, nullptr);
    b.start();
    // Each sees the other, with its advertised address, and reads its discovery.
    ASSERT_TRUE(test::wait_until([&] {
      auto v = state_a.current();
      return v->peers.size() == 1 && v->peers[0].model != nullptr;
    }));
    ASSERT_TRUE(test::wait_until([&] { return state_b.current()->peers.size() == 1; }));
    EXPECT_EQ(state_a.current()->peers[0].endpoint.id, "b");
    EXPECT_EQ(state_a.current()->peers[0].endpoint.port, cfg_b.peer_advertise_port);
    EXPECT_EQ(state_a.current()->peers[0].endpoint.holder_identity.rfind("b_", 0), 0u);
    EXPECT_EQ(state_b.current()->peers[0].endpoint.id, "a");
    // The Lease is in the shared store, labelled and annotated.
    auto lease =
        test::run_command("curl -sS --cacert " + (dir_.path() / "ca.crt").string() + " --cert " +
                          (dir_.path() / "admin.crt").string() + " --key " +
                          (dir_.path() / "admin.key").string() + " " + stand_in_->url("old") +
                          "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/b");
    EXPECT_NE(lease.output.find("\"app.kubernetes.io/name\":\"mvproxy\""), std::string::npos)
        << lease.output;
    EXPECT_NE(lease.output.find("kubernetes.io/peer-advertise-address"), std::string::npos);
    // Graceful stop deletes b's Lease: a notices at once (watch), not after expiry.
    auto t0 = std::chrono::steady_clock::now();
    b.stop();
    ASSERT_TRUE(test::wait_until([&] { return state_a.current()->peers.empty(); }, 5s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
  }
  // A sidecar that dies keeps its Lease until it expires; then it is dropped.
  {
    control_plane b(cfg_b, state_b, nullptr);
    b.start();
    ASSERT_TRUE(test::wait_until([&] { return state_a.current()->peers.size() == 1; }));
    b.stop(0ms);  // no Lease deletion: as if killed
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(test::wait_until([&] { return state_a.current()->peers.empty(); }, 6s));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 500ms);  // it waited for expiry
  }
  a.stop();
}

}  // namespace
}  // namespace mvproxy::control
