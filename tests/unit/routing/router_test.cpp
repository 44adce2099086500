// The router, rule by rule (SPEC §3), then the edges: subresources, per-group legacy
// discovery, unhealthy and unsynced peers, candidate order and its uniformity.

#include "mvproxy/routing/router.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace mvproxy::routing {
namespace {

using discovery::server_model_ptr;
using request::classify;
using request::request_info;

// A model from "group/version/resource:sub1,sub2" entries ("" group: "/v1/pods").
server_model_ptr model(std::initializer_list<std::string_view> entries) {
  std::vector<discovery::group_info> groups;
  for (std::string_view e : entries) {
    auto s1 = e.find('/');
    auto s2 = e.find('/', s1 + 1);
    auto colon = e.find(':');
    std::string group(e.substr(0, s1));
    std::string version(e.substr(s1 + 1, s2 - s1 - 1));
    std::string resource(
        e.substr(s2 + 1, colon == std::string_view::npos ? colon : colon - s2 - 1));
    discovery::resource_info r;
    r.name = resource;
    r.verbs = {"get", "list"};
    if (colon != std::string_view::npos) {
      std::string_view subs = e.substr(colon + 1);
      while (!subs.empty()) {
        auto comma = subs.find(',');
        discovery::subresource_info sub;
        sub.name = std::string(subs.substr(0, comma));
        r.subresources.push_back(sub);
        subs = comma == std::string_view::npos ? std::string_view{} : subs.substr(comma + 1);
      }
    }
    auto g = std::find_if(groups.begin(), groups.end(), [&](auto& x) { return x.name == group; });
    if (g == groups.end()) g = groups.insert(groups.end(), discovery::group_info{group, {}});
    auto v = std::find_if(g->versions.begin(), g->versions.end(),
                          [&](auto& x) { return x.version == version; });
    if (v == g->versions.end())
      v = g->versions.insert(g->versions.end(), discovery::version_info{version, {}, {}});
    v->resources.push_back(r);
  }
  return std::make_shared<const discovery::server_model>(std::move(groups));
}

// An old apiserver (local) and two newer peers; "c" is the only one with the alpha group.
const server_model_ptr old_server =
    model({"/v1/pods:exec,log,status", "/v1/namespaces:status,finalize", "/v1/nodes",
           "apps/v1/deployments:scale,status", "coordination.k8s.io/v1/leases"});
const server_model_ptr new_server =
    model({"/v1/pods:exec,log,status,resize", "/v1/namespaces:status,finalize", "/v1/nodes",
           "apps/v1/deployments:scale,status", "apps/v2/deployments:scale",
           "coordination.k8s.io/v1/leases", "coordination.k8s.io/v1beta1/leasecandidates",
           "resource.k8s.io/v1/deviceclasses"});
const server_model_ptr newest_server =
    model({"/v1/pods:exec,log,status,resize", "/v1/namespaces:status,finalize", "/v1/nodes",
           "apps/v1/deployments:scale,status", "apps/v2/deployments:scale",
           "coordination.k8s.io/v1/leases", "coordination.k8s.io/v1beta1/leasecandidates",
           "resource.k8s.io/v1/deviceclasses", "alpha.example.com/v1alpha1/widgets"});

struct fixture {
  request_info info;
  std::vector<peer_view> peers{{"a", new_server, true}, {"b", newest_server, true}};
  route_input input;

  explicit fixture(std::string_view method, std::string_view path, std::string_view query = {})
      : info(classify(method, path, query)) {
    input.info = &info;
    input.local = old_server;
  }
  route_decision run() {
    input.peers = peers;
    return route(input);
  }
};

using names = std::vector<std::string>;

TEST(Router, Rule1GateOffGoesLocal) {
  fixture f("GET", "/apis/resource.k8s.io/v1/deviceclasses");
  f.input.feature_enabled = false;
  auto d = f.run();
  EXPECT_EQ(d.kind, route_kind::local);
  EXPECT_EQ(d.reason, "gate-off");
  EXPECT_TRUE(d.candidates.empty());
  EXPECT_TRUE(d.failover.empty());

  fixture g("GET", "/apis");
  g.input.feature_enabled = false;
  g.input.view = discovery_view::aggregated;
  EXPECT_EQ(g.run().kind, route_kind::local);
}

TEST(Router, Rule2TrustedPeerProxiedGoesLocalWhenServedHere) {
  for (const char* path : {"/api/v1/pods", "/apis/apps/v1/namespaces/x/deployments", "/apis",
                           "/api", "/version", "/apis/apps"}) {
    SCOPED_TRACE(path);
    fixture f("GET", path);
    f.input.from_trusted_peer_proxied = true;
    f.input.view =
        std::string_view(path) == "/apis" ? discovery_view::aggregated : discovery_view::none;
    auto d = f.run();
    EXPECT_EQ(d.kind, route_kind::local);
    EXPECT_EQ(d.reason, "peer-proxied");
    EXPECT_TRUE(d.failover.empty());  // at most one hop, even on failure
  }
}

// Hand back, never guess: what a peer proxied here and the local apiserver's fresh view
// does not serve goes back (the peer tries elsewhere), never onward.
TEST(Router, Rule2PeerProxiedNotServedHereIsHandedBack) {
  for (const char* path :
       {"/apis/resource.k8s.io/v1/deviceclasses", "/apis/resource.k8s.io",
        "/apis/apps/v2/namespaces/x/deployments", "/api/v1/namespaces/x/pods/p/resize"}) {
    SCOPED_TRACE(path);
    fixture f("GET", path);
    f.input.from_trusted_peer_proxied = true;
    auto d = f.run();
    EXPECT_EQ(d.kind, route_kind::hand_back);
    EXPECT_EQ(d.reason, "not-served-here");
    EXPECT_TRUE(d.candidates.empty());
  }
  fixture writes("POST", "/apis/resource.k8s.io/v1/deviceclasses");
  writes.input.from_trusted_peer_proxied = true;
  EXPECT_EQ(writes.run().kind, route_kind::hand_back);
  // Before the first local sync nothing is known: as upstream, local.
  fixture unsynced("GET", "/apis/resource.k8s.io/v1/deviceclasses");
  unsynced.input.from_trusted_peer_proxied = true;
  unsynced.input.local = nullptr;
  EXPECT_EQ(unsynced.run().kind, route_kind::local);
}

TEST(Router, Rule2PeerProxiedWhileLocalApiserverAwayWaitsForAProbeThenHandsBack) {
  for (auto state : {apiserver_state::down, apiserver_state::unconfirmed}) {
    for (const char* path : {"/api/v1/pods", "/apis", "/version"}) {
      SCOPED_TRACE(path);
      fixture f("GET", path);
      f.input.from_trusted_peer_proxied = true;
      f.input.local_state = state;
      auto d = f.run();
      EXPECT_EQ(d.kind, route_kind::wait_local);
      EXPECT_EQ(d.wait, wait_for::probe);
      f.input.wait_expired = true;
      d = f.run();
      EXPECT_EQ(d.kind, route_kind::hand_back);
      EXPECT_EQ(d.reason, "apiserver-down");
    }
  }
}

TEST(Router, Rule3NonResourceGoesLocal) {
  for (const char* path :
       {"/version", "/healthz", "/readyz", "/openapi/v2", "/metrics", "/api/v1", "/", "/logs/"}) {
    SCOPED_TRACE(path);
    fixture f("GET", path);
    auto d = f.run();
    EXPECT_EQ(d.kind, route_kind::local);
    EXPECT_EQ(d.reason, "non-resource");
    EXPECT_TRUE(d.failover.empty());
  }
}

TEST(Router, Rule3RootDiscoveryByView) {
  struct {
    const char* method;
    const char* path;
    discovery_view view;
    route_kind kind;
    const char* reason;
  } cases[] = {
      {"GET", "/apis", discovery_view::aggregated, route_kind::merged_discovery, "merged"},
      {"GET", "/api", discovery_view::aggregated, route_kind::merged_discovery, "merged"},
      {"HEAD", "/apis", discovery_view::aggregated, route_kind::merged_discovery, "merged"},
      {"GET", "/apis/", discovery_view::legacy_json, route_kind::merged_discovery, "merged"},
      {"GET", "/api", discovery_view::legacy_json, route_kind::merged_discovery, "merged"},
      {"GET", "/apis", discovery_view::aggregated_nopeer, route_kind::local, "nopeer"},
      {"GET", "/api", discovery_view::aggregated_nopeer, route_kind::local, "nopeer"},
      {"GET", "/apis", discovery_view::none, route_kind::local, "non-resource"},
      {"POST", "/apis", discovery_view::aggregated, route_kind::local, "non-resource"},
      {"DELETE", "/api", discovery_view::legacy_json, route_kind::local, "non-resource"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.method) + " " + c.path);
    fixture f(c.method, c.path);
    f.input.view = c.view;
    auto d = f.run();
    EXPECT_EQ(d.kind, c.kind);
    EXPECT_EQ(d.reason, c.reason);
    EXPECT_TRUE(d.candidates.empty());
    EXPECT_TRUE(d.failover.empty());
  }
}

TEST(Router, NotSyncedPassesThroughWithFailover) {
  fixture f("GET", "/api/v1/namespaces/default/pods");
  f.input.local = nullptr;
  auto d = f.run();
  EXPECT_EQ(d.kind, route_kind::local);
  EXPECT_EQ(d.reason, "not-synced");
  EXPECT_EQ(d.failover, (names{"a", "b"}));

  fixture peer_only("GET", "/apis/alpha.example.com/v1alpha1/widgets");
  peer_only.input.local = nullptr;
  EXPECT_EQ(peer_only.run().kind, route_kind::local);

  // No merged document without the local part.
  fixture apis("GET", "/apis");
  apis.input.local = nullptr;
  apis.input.view = discovery_view::aggregated;
  auto m = apis.run();
  EXPECT_EQ(m.kind, route_kind::local);
  EXPECT_EQ(m.reason, "not-synced");
}

TEST(Router, Rule4ServedLocallyWithFailoverPeers) {
  struct {
    const char* method;
    const char* url;
    names failover;
  } cases[] = {
      {"GET", "/api/v1/namespaces/default/pods?limit=500", {"a", "b"}},
      {"GET", "/api/v1/namespaces/default/pods/p", {"a", "b"}},
      {"POST", "/api/v1/namespaces/default/pods/p/exec", {"a", "b"}},
      {"GET", "/api/v1/namespaces/default/pods/p/log", {"a", "b"}},
      {"PUT", "/api/v1/namespaces/ns/finalize", {"a", "b"}},
      {"GET", "/apis/apps/v1/namespaces/default/deployments/x/scale", {"a", "b"}},
      {"GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", {"a", "b"}},
      {"GET", "/api/v1/watch/namespaces/default/pods/foo", {"a", "b"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    std::string_view url = c.url;
    auto q = url.find('?');
    fixture f(c.method, url.substr(0, q), q == url.npos ? "" : url.substr(q + 1));
    auto d = f.run();
    EXPECT_EQ(d.kind, route_kind::local);
    EXPECT_EQ(d.reason, "local");
    EXPECT_TRUE(d.candidates.empty());
    EXPECT_EQ(d.failover, c.failover);
  }
}

TEST(Router, Rule4FailoverLeavesOutUnhealthyUnsyncedAndIncapablePeers) {
  fixture f("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases");
  f.peers = {{"a", new_server, false},
             {"b", nullptr, true},
             {"c", model({"/v1/pods"}), true},
             {"d", newest_server, true}};
  auto d = f.run();
  EXPECT_EQ(d.kind, route_kind::local);
  EXPECT_EQ(d.failover, (names{"d"}));
}

TEST(Router, Rule4SubresourceServedOnlyByPeer) {
  fixture f("PATCH", "/api/v1/namespaces/default/pods/p/resize");
  auto d = f.run();
  EXPECT_EQ(d.kind, route_kind::peer);
  EXPECT_EQ(d.reason, "subresource");
  EXPECT_EQ(d.candidates, (names{"a", "b"}));

  // Nobody has it: the local apiserver answers its 404.
  fixture none("GET", "/api/v1/namespaces/default/pods/p/nosuch");
  auto n = none.run();
  EXPECT_EQ(n.kind, route_kind::local);
  EXPECT_EQ(n.reason, "not-served");

  // A peer that serves the resource but not the subresource is no candidate.
  fixture partial("PATCH", "/api/v1/namespaces/default/pods/p/resize");
  partial.peers = {{"a", old_server, true}, {"b", newest_server, true}};
  EXPECT_EQ(partial.run().candidates, (names{"b"}));

  // Capable peers, all unhealthy.
  fixture down("PATCH", "/api/v1/namespaces/default/pods/p/resize");
  down.peers = {{"a", new_server, false}, {"b", newest_server, false}};
  EXPECT_EQ(down.run().kind, route_kind::unavailable);
}

TEST(Router, Rule5PeersServeWhatLocalDoesNot) {
  struct {
    const char* method;
    const char* path;
    names candidates;
  } cases[] = {
      {"GET", "/apis/resource.k8s.io/v1/deviceclasses", {"a", "b"}},
      {"DELETE", "/apis/resource.k8s.io/v1/deviceclasses/gpu", {"a", "b"}},
      {"GET", "/apis/apps/v2/namespaces/default/deployments", {"a", "b"}},
      {"PUT", "/apis/apps/v2/namespaces/default/deployments/x/scale", {"a", "b"}},
      {"GET",
       "/apis/coordination.k8s.io/v1beta1/namespaces/kube-system/leasecandidates",
       {"a", "b"}},
      {"GET", "/apis/alpha.example.com/v1alpha1/widgets", {"b"}},
      {"POST", "/apis/alpha.example.com/v1alpha1/namespaces/ns/widgets", {"b"}},
      {"GET", "/apis/alpha.example.com/v1alpha1/watch/namespaces/ns/widgets", {"b"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    fixture f(c.method, c.path);
    auto d = f.run();
    EXPECT_EQ(d.kind, route_kind::peer);
    EXPECT_EQ(d.reason, "peer");
    EXPECT_EQ(d.candidates, c.candidates);
    EXPECT_TRUE(d.failover.empty());
  }
}

TEST(Router, Rule5UnhealthyAndUnsyncedPeersAreNoCandidates) {
  fixture f("GET", "/apis/resource.k8s.io/v1/deviceclasses");
  f.peers = {{"a", new_server, false},
             {"b", nullptr, true},
             {"c", newest_server, true},
             {"d", old_server, true}};
  auto d = f.run();
  EXPECT_EQ(d.kind, route_kind::peer);
  EXPECT_EQ(d.candidates, (names{"c"}));
}

TEST(Router, Rule6NobodyServesItGoesLocal) {
  for (const char* path : {"/apis/nosuch.example.com/v1/things", "/apis/apps/v9/deployments",
                           "/api/v1/nosuchresources", "/api/v2/pods"}) {
    SCOPED_TRACE(path);
    fixture f("GET", path);
    auto d = f.run();
    EXPECT_EQ(d.kind, route_kind::local);
    EXPECT_EQ(d.reason, "not-served");
    EXPECT_TRUE(d.failover.empty());
  }
  fixture alone("GET", "/apis/resource.k8s.io/v1/deviceclasses");
  alone.peers.clear();
  EXPECT_EQ(alone.run().reason, "not-served");
  // A peer never read yet may serve it: it is asked first (it hands the request back
  // when it cannot), then the local apiserver answers.
  fixture unsynced("GET", "/apis/resource.k8s.io/v1/deviceclasses");
  unsynced.peers = {{"a", nullptr, true}};
  auto d = unsynced.run();
  EXPECT_EQ(d.kind, route_kind::peer);
  EXPECT_EQ(d.reason, "ask");
  EXPECT_EQ(d.candidates, (names{"a"}));
  EXPECT_TRUE(d.then_local);
}

TEST(Router, Rule7CapablePeersAllUnhealthyIsUnavailable) {
  fixture f("GET", "/apis/resource.k8s.io/v1/deviceclasses");
  f.peers = {{"a", new_server, false}, {"b", newest_server, false}, {"c", old_server, true}};
  auto d = f.run();
  EXPECT_EQ(d.kind, route_kind::unavailable);
  EXPECT_EQ(d.reason, "no-healthy-peer");
  EXPECT_TRUE(d.candidates.empty());
}

TEST(Router, Rule9PerGroupLegacyDiscovery) {
  struct {
    const char* method;
    const char* path;
    route_kind kind;
    const char* reason;
    names candidates;
    names failover;
  } cases[] = {
      {"GET", "/apis/apps", route_kind::local, "local", {}, {"a", "b"}},
      {"GET", "/apis/apps/v1", route_kind::local, "local", {}, {"a", "b"}},
      {"GET", "/apis/apps/v2", route_kind::peer, "peer", {"a", "b"}, {}},
      {"GET", "/apis/resource.k8s.io", route_kind::peer, "peer", {"a", "b"}, {}},
      {"GET", "/apis/resource.k8s.io/v1/", route_kind::peer, "peer", {"a", "b"}, {}},
      {"HEAD", "/apis/alpha.example.com", route_kind::peer, "peer", {"b"}, {}},
      {"GET", "/apis/alpha.example.com/v1alpha1", route_kind::peer, "peer", {"b"}, {}},
      {"GET", "/apis/alpha.example.com/v1", route_kind::local, "not-served", {}, {}},
      {"GET", "/apis/nosuch.example.com", route_kind::local, "not-served", {}, {}},
      {"POST", "/apis/resource.k8s.io", route_kind::local, "non-resource", {}, {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.method) + " " + c.path);
    fixture f(c.method, c.path);
    auto d = f.run();
    EXPECT_EQ(d.kind, c.kind);
    EXPECT_EQ(d.reason, c.reason);
    EXPECT_EQ(d.candidates, c.candidates);
    EXPECT_EQ(d.failover, c.failover);
  }
  fixture down("GET", "/apis/alpha.example.com/v1alpha1");
  down.peers = {{"a", new_server, true}, {"b", newest_server, false}};
  EXPECT_EQ(down.run().kind, route_kind::unavailable);
}

TEST(Router, MalformedNeverLeavesLocal) {
  for (const char* path : {"/apis/alpha.example.com/v1alpha1/../../../api/v1/pods",
                           "/apis/alpha.example.com/v1alpha1/w%69dgets",
                           "/apis//alpha.example.com/v1alpha1/widgets"}) {
    SCOPED_TRACE(path);
    fixture f("GET", path);
    auto d = f.run();
    EXPECT_EQ(d.kind, route_kind::local);
    EXPECT_EQ(d.reason, "malformed");
    EXPECT_TRUE(d.failover.empty());
  }
}

TEST(Router, CandidateOrderIsARotationPickedByRandom) {
  fixture f("GET", "/apis/resource.k8s.io/v1/deviceclasses");
  f.peers = {{"a", new_server, true},
             {"b", old_server, true},
             {"c", newest_server, true},
             {"d", new_server, false},
             {"e", new_server, true}};
  const names want[] = {{"a", "c", "e"}, {"c", "e", "a"}, {"e", "a", "c"}};
  for (std::uint64_t r = 0; r < 9; ++r) {
    SCOPED_TRACE(r);
    f.input.random = r;
    EXPECT_EQ(f.run().candidates, want[r % 3]);
    EXPECT_EQ(f.run().candidates, want[r % 3]);  // the same random, the same order
  }
  f.input.random = ~std::uint64_t{0};  // 2^64-1 = 0 mod 3
  EXPECT_EQ(f.run().candidates, want[0]);

  // Failover lists rotate the same way.
  fixture local("GET", "/api/v1/pods");
  local.peers = f.peers;
  local.input.random = 1;
  EXPECT_EQ(local.run().failover, (names{"b", "c", "e", "a"}));
}

TEST(Router, FirstChoiceIsUniform) {
  fixture f("GET", "/apis/resource.k8s.io/v1/deviceclasses");
  f.peers = {{"p1", new_server, true},
             {"p2", new_server, true},
             {"p3", new_server, true},
             {"p4", newest_server, true},
             {"p5", newest_server, true}};
  // Over a full cycle of randoms every peer is first equally often.
  std::map<std::string, int> exact;
  for (std::uint64_t r = 0; r < 5000; ++r) {
    f.input.random = r;
    ++exact[f.run().candidates.front()];
  }
  ASSERT_EQ(exact.size(), 5u);
  for (const auto& [id, n] : exact) EXPECT_EQ(n, 1000) << id;

  // With real random draws the counts stay within a loose bound of the mean.
  std::mt19937_64 rng(12345);
  std::map<std::string, int> drawn;
  for (int i = 0; i < 50000; ++i) {
    f.input.random = rng();
    auto d = f.run();
    ASSERT_EQ(d.candidates.size(), 5u);
    ++drawn[d.candidates.front()];
  }
  for (const auto& [id, n] : drawn) {
    EXPECT_GT(n, 9400) << id;
    EXPECT_LT(n, 10600) << id;
  }
}

// The local apiserver went away (its connection closed, or it refuses): its last
// discovery is not routed by. What a peer serves goes there; the rest waits.
TEST(Router, LocalApiserverAwayRoutesByPeersOrWaits) {
  for (auto state : {apiserver_state::down, apiserver_state::unconfirmed}) {
    const std::string reason = state == apiserver_state::down ? "local-down" : "local-unconfirmed";
    fixture both("GET", "/api/v1/namespaces/x/pods");
    both.input.local_state = state;
    auto d = both.run();
    EXPECT_EQ(d.kind, route_kind::peer);
    EXPECT_EQ(d.reason, reason);
    EXPECT_EQ(d.candidates.size(), 2u);
    EXPECT_TRUE(d.then_local);  // every peer failing: the local apiserver may be back

    fixture old_only("GET", "/apis/apps/v1/namespaces/x/deployments");
    old_only.peers = {{"a", old_server, true}, {"b", new_server, true, apiserver_state::down}};
    old_only.input.local_state = state;
    EXPECT_EQ(old_only.run().candidates, (names{"a"}));

    // Nobody else serves it: wait for the local apiserver, bounded, then route by what
    // is known.
    fixture mine("GET", "/apis/apps/v1/namespaces/x/deployments");
    mine.peers = {{"a", new_server, false}, {"b", newest_server, true, apiserver_state::down}};
    mine.input.local_state = state;
    d = mine.run();
    EXPECT_EQ(d.kind, route_kind::wait_local);
    EXPECT_EQ(d.wait, wait_for::recovery);
    mine.input.wait_expired = true;
    d = mine.run();
    EXPECT_EQ(d.kind, route_kind::local);
    EXPECT_EQ(d.reason, "local");
  }
}

TEST(Router, LocalApiserverAwayNonResourceReadsGoToAPeer) {
  for (const char* path : {"/version", "/openapi/v2", "/openapi/v3/"}) {
    SCOPED_TRACE(path);
    fixture f("GET", path);
    f.input.local_state = apiserver_state::down;
    f.peers = {{"a", new_server, true},
               {"b", newest_server, true, apiserver_state::down},
               {"c", newest_server, false}};
    auto d = f.run();
    EXPECT_EQ(d.kind, route_kind::peer);
    EXPECT_EQ(d.candidates, (names{"a"}));
    EXPECT_TRUE(d.then_local);
  }
  // This node's own health is never answered by another.
  for (const char* path : {"/healthz", "/readyz", "/livez/ping", "/metrics"}) {
    SCOPED_TRACE(path);
    fixture f("GET", path);
    f.input.local_state = apiserver_state::down;
    EXPECT_EQ(f.run().kind, route_kind::local);
  }
  fixture write("POST", "/version");
  write.input.local_state = apiserver_state::down;
  EXPECT_EQ(write.run().kind, route_kind::local);
}

// Peers whose apiserver is down or unconfirmed are asked last: after the healthy ones
// (their apiserver may be back by now), first when no known server serves the request,
// and a 503 rather than the local 404 when one of them served it before.
TEST(Router, PeerApiserverAwayIsRoutedAroundOrAsked) {
  fixture f("GET", "/apis/resource.k8s.io/v1/deviceclasses");
  f.peers = {{"a", new_server, true, apiserver_state::down}, {"b", newest_server, true}};
  auto d = f.run();
  EXPECT_EQ(d.kind, route_kind::peer);
  EXPECT_EQ(d.candidates, (names{"b", "a"}));

  // Only ones whose last discovery served it, and never an ejected one.
  f.peers = {{"a", old_server, true, apiserver_state::down},
             {"b", newest_server, true},
             {"c", new_server, false, apiserver_state::down}};
  EXPECT_EQ(f.run().candidates, (names{"b"}));

  f.peers = {{"a", new_server, true, apiserver_state::down},
             {"b", newest_server, true, apiserver_state::unconfirmed}};
  d = f.run();
  EXPECT_EQ(d.kind, route_kind::peer);
  EXPECT_EQ(d.reason, "ask");
  EXPECT_EQ(d.candidates.size(), 2u);
  EXPECT_FALSE(d.then_local);  // they served it: if both hand it back, 503, not 404

  fixture fresh("GET", "/apis/alpha.example.com/v1alpha1/widgets");
  fresh.peers = {{"a", new_server, true, apiserver_state::down}, {"b", new_server, true}};
  d = fresh.run();
  EXPECT_EQ(d.reason, "ask");
  EXPECT_EQ(d.candidates, (names{"a"}));
  EXPECT_TRUE(d.then_local);  // nobody served it before: the local 404 if a hands it back

  fixture ejected("GET", "/apis/alpha.example.com/v1alpha1/widgets");
  ejected.peers = {{"a", new_server, false, apiserver_state::down}};
  EXPECT_EQ(ejected.run().reason, "not-served");

  fixture unknown("GET", "/apis/resource.k8s.io/v1/deviceclasses");
  unknown.peers = {{"a", new_server, true, apiserver_state::unknown}};
  EXPECT_EQ(unknown.run().candidates, (names{"a"}));  // an older peer: by its discovery
}

// OpenAPI v3 (beyond upstream): a group-version's document goes where its discovery
// goes; the index is merged.
TEST(Router, OpenApiV3FollowsTheGroupVersion) {
  struct {
    const char* path;
    route_kind kind;
    const char* reason;
  } cases[] = {
      {"/openapi/v3/apis/resource.k8s.io/v1", route_kind::peer, "peer"},
      {"/openapi/v3/apis/apps/v1", route_kind::local, "local"},
      {"/openapi/v3/api/v1", route_kind::local, "local"},
      {"/openapi/v3/apis/nosuch.io/v1", route_kind::local, "not-served"},
      {"/openapi/v3", route_kind::merged_discovery, "merged-openapi"},
      {"/openapi/v3/apis/apps", route_kind::local, "non-resource"},
      {"/openapi/v2", route_kind::local, "non-resource"},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.path);
    fixture f("GET", c.path);
    auto d = f.run();
    EXPECT_EQ(d.kind, c.kind);
    EXPECT_EQ(d.reason, c.reason);
  }
  fixture proxied("GET", "/openapi/v3/apis/resource.k8s.io/v1");
  proxied.input.from_trusted_peer_proxied = true;
  EXPECT_EQ(proxied.run().kind, route_kind::hand_back);
}

TEST(Router, RouteKindNames) {
  EXPECT_EQ(to_string(route_kind::local), "local");
  EXPECT_EQ(to_string(route_kind::peer), "peer");
  EXPECT_EQ(to_string(route_kind::merged_discovery), "merged_discovery");
  EXPECT_EQ(to_string(route_kind::unavailable), "unavailable");
  EXPECT_EQ(to_string(route_kind::wait_local), "wait_local");
  EXPECT_EQ(to_string(route_kind::hand_back), "hand_back");
}

}  // namespace
}  // namespace mvproxy::routing
