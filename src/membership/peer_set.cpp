#include "mvproxy/membership/peer_set.hpp"

#include <algorithm>
#include <charconv>
#include <map>

namespace mvproxy::membership {

namespace {

// "ip:port" or "[v6]:port"; false when malformed.
bool split_address(std::string_view a, std::string& host, std::uint16_t& port) {
  auto colon = a.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == a.size()) return false;
  std::string_view h = a.substr(0, colon);
  if (h.front() == '[') {
    if (h.back() != ']' || h.size() < 3) return false;
    h = h.substr(1, h.size() - 2);
  }
  unsigned p = 0;
  auto digits = a.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p);
  if (ec != std::errc{} || ptr != digits.data() + digits.size() || p == 0 || p > 65535)
    return false;
  host = std::string(h);
  port = static_cast<std::uint16_t>(p);
  return true;
}

}  // namespace

std::vector<peer_endpoint> peers_from_leases(const std::vector<lease_record>& leases,
                                             std::string_view own_id, clock::time_point now) {
  std::vector<peer_endpoint> out;
  for (const auto& l : leases) {
    if (l.name == own_id || !is_mvproxy_lease(l) || !is_live(l, now)) continue;
    peer_endpoint p;
    if (!split_address(l.advertise_address, p.host, p.port)) continue;
    p.id = l.name;
    p.holder_identity = l.holder_identity;
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
  return out;
}

std::vector<std::string> leases_without_address(const std::vector<lease_record>& leases,
                                                std::string_view own_id, clock::time_point now) {
  std::vector<std::string> out;
  for (const auto& l : leases) {
    if (l.name == own_id || !is_mvproxy_lease(l) || !is_live(l, now)) continue;
    std::string host;
    std::uint16_t port = 0;
    if (!split_address(l.advertise_address, host, port)) out.push_back(l.name);
  }
  return out;
}

peer_set_change diff_peers(const std::vector<peer_endpoint>& before,
                           const std::vector<peer_endpoint>& after) {
  peer_set_change c;
  std::map<std::string_view, const peer_endpoint*> old;
  for (auto& p : before) old[p.id] = &p;
  for (auto& p : after) {
    auto it = old.find(p.id);
    if (it == old.end() || !(*it->second == p)) c.added.push_back(p);
    if (it != old.end()) old.erase(it);
  }
  for (auto& [id, p] : old) c.removed.emplace_back(id);
  return c;
}

}  // namespace mvproxy::membership
