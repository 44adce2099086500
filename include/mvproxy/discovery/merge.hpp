#pragma once
// Peer-aggregated discovery: the union of several servers' models, as kube-apiserver's
// peer-aggregated discovery handler merges them. Given the same inputs in the same
// order, every sidecar computes the same model, hence byte-identical documents.

#include <span>
#include <string>
#include <vector>

#include "mvproxy/discovery/model.hpp"

namespace mvproxy::discovery {

// Orders the union of `lists` so that every list's relative order is kept; items with
// no order between them sort lexically. A list that already holds every item is
// returned as is (the first such); contradicting lists fall back to lexical order.
// (upstream: k8s.io/apimachinery/pkg/util/sort.MergePreservingRelativeOrder)
std::vector<std::string> merge_preserving_relative_order(
    std::span<const std::vector<std::string>> lists);

// `servers` are all servers' models, the local one included, in server-id order.
// Groups, versions per group and resources per version are united, each level in an
// order that keeps every server's order. A resource seen twice keeps its first copy's
// fields, with the union of the verbs (sorted) and of the subresources (by name, sorted,
// a later copy of a subresource replacing an earlier one).
server_model merge_models(std::span<const server_model* const> servers);
server_model merge_models(std::span<const server_model_ptr> servers);

}  // namespace mvproxy::discovery
