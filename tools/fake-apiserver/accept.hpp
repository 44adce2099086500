#pragma once
// HTTP Accept negotiation the way kube-apiserver does it for the media types it
// offers: a media range matches an offer when type/subtype match (wildcards allowed)
// and every parameter the offer is identified by (g, v, as) is equal; ranges are
// tried by q-value, then in the order the client wrote them.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fake_apiserver {

struct media_range {
  std::string type;                           // "application"
  std::string subtype;                        // "json"
  std::map<std::string, std::string> params;  // lower-case keys, q excluded
  double q = 1.0;
};

// Parses an Accept header; malformed ranges are skipped as Go's mime parser does.
std::vector<media_range> parse_accept(std::string_view header);

struct media_offer {
  std::string type;
  std::string subtype;
  std::map<std::string, std::string> params;  // g, v, as (empty for plain JSON)
};

// Index of the offer chosen, or nullopt when nothing acceptable (406).
// An empty header accepts the first offer.
std::optional<size_t> negotiate(std::string_view accept_header,
                                const std::vector<media_offer>& offers);

// "application/json;g=...;v=...;as=..." as a Content-Type value.
std::string to_content_type(const media_offer& offer);

}  // namespace fake_apiserver
