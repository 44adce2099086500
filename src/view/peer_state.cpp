#include "mvproxy/view/peer_state.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

#include "mvproxy/request/query.hpp"
#include "mvproxy/view/cluster_state.hpp"

namespace mvproxy::view {

using routing::apiserver_state;

std::string_view to_string(apiserver_state s) {
  switch (s) {
    case apiserver_state::up:
      return "up";
    case apiserver_state::unconfirmed:
      return "unconfirmed";
    case apiserver_state::down:
      return "down";
    case apiserver_state::unknown:
      break;
  }
  return "unknown";
}

std::optional<apiserver_state> parse_apiserver_state(std::string_view s) {
  for (auto v : {apiserver_state::up, apiserver_state::unconfirmed, apiserver_state::down,
                 apiserver_state::unknown})
    if (to_string(v) == s) return v;
  return std::nullopt;
}

std::string peer_state_json(const peer_state& s) {
  nlohmann::json j = {
      {"kind", "PeerState"},     {"apiVersion", "mvproxy.io/v1"},
      {"serverID", s.server_id}, {"instance", s.instance},
      {"revision", s.revision},  {"apiserver", std::string(to_string(s.apiserver))}};
  return j.dump();
}

std::optional<peer_state> parse_peer_state(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object() || j.value("kind", "") != "PeerState") return std::nullopt;
  auto id = j.find("serverID");
  auto inst = j.find("instance");
  auto rev = j.find("revision");
  auto api = j.find("apiserver");
  if (id == j.end() || !id->is_string() || inst == j.end() || !inst->is_string() ||
      rev == j.end() || !rev->is_number_unsigned() || api == j.end() || !api->is_string())
    return std::nullopt;
  auto state = parse_apiserver_state(api->get<std::string>());
  if (!state) return std::nullopt;
  return peer_state{id->get<std::string>(), inst->get<std::string>(), rev->get<std::uint64_t>(),
                    *state};
}

peer_state own_state(const cluster_view& v) {
  return {v.own_id, v.instance, v.local_revision, v.local_state};
}

namespace {

template <class T>
std::optional<T> number(std::optional<std::string_view> s) {
  T v{};
  if (!s || s->empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || p != s->data() + s->size()) return std::nullopt;
  return v;
}

}  // namespace

state_query parse_state_query(std::string_view raw_query) {
  static constexpr std::string_view keys[] = {"instance", "revision", "timeoutSeconds"};
  std::optional<std::string_view> values[3];
  request::first_query_values(raw_query, keys, values);
  state_query q;
  // Instances are "<server-id>_<hex>": nothing to decode; anything else matches none.
  if (values[0]) q.instance = std::string(*values[0]);
  q.revision = number<std::uint64_t>(values[1]);
  if (auto t = number<unsigned>(values[2])) q.timeout = std::chrono::seconds(std::min(*t, 60u));
  return q;
}

bool state_changed(const state_query& q, const peer_state& now) {
  return !q.revision || q.instance != now.instance || *q.revision != now.revision;
}

std::string state_target(const std::string& instance, std::uint64_t revision,
                         std::chrono::seconds timeout) {
  return std::string(peer_state_path) + "?instance=" + instance +
         "&revision=" + std::to_string(revision) +
         "&timeoutSeconds=" + std::to_string(timeout.count());
}

}  // namespace mvproxy::view
