#pragma once
// A raw (still escaped) URL query read the way Go's url.ParseQuery reads it, because
// kube-apiserver decides watch/list and the fieldSelector name from that reading:
// pairs split on '&'; a pair containing ';' or a bad %-escape is dropped; the first
// '=' splits key from value (no '=' means an empty value); '+' decodes to a space.
// Nothing here allocates; decoding writes into a caller's buffer.

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace mvproxy::request {

// Every '%' is followed by two hex digits.
bool valid_escapes(std::string_view raw);

// Compares the query-decoded `raw` ('+' is a space) with `plain`. `raw` must have
// valid escapes. ignore_case folds ASCII letters only, as Go's strings.EqualFold does
// for ASCII.
bool query_decoded_equals(std::string_view raw, std::string_view plain, bool ignore_case = false);

// Writes the query-decoded `raw` to `out` (room for raw.size() chars; decoding never
// grows) and returns the decoded length. `raw` must have valid escapes.
std::size_t query_decode(std::string_view raw, char* out);

// The raw value of the first pair whose decoded key is `key`, as url.Values[key][0].
std::optional<std::string_view> first_query_value(std::string_view raw_query, std::string_view key);

// The same for several keys in one pass: values[i] is the first value of keys[i].
void first_query_values(std::string_view raw_query, std::span<const std::string_view> keys,
                        std::span<std::optional<std::string_view>> values);

}  // namespace mvproxy::request
