#pragma once
// Discovery documents rendered from a model, in kube-apiserver's JSON shapes: the same
// field order, compact, with the trailing newline of Go's json.Encoder, and strings
// escaped as Go escapes them. Output depends only on the model, so every sidecar
// renders the same bytes for the same model.

#include <optional>
#include <string>
#include <string_view>

#include "mvproxy/discovery/model.hpp"
#include "mvproxy/discovery/parse.hpp"

namespace mvproxy::discovery {

// GET /apis aggregated: every group but the core one.
std::string render_aggregated_apis(const server_model& model, aggregated_version version);
// GET /api aggregated: the core group ("") alone, or no items when it is not served.
std::string render_aggregated_api(const server_model& model, aggregated_version version);

// GET /apis legacy APIGroupList: the non-core groups, preferred version = first.
std::string render_group_list(const server_model& model);
// GET /api legacy APIVersions: the core group's versions. serverAddressByClientCIDRs
// gets one entry for 0.0.0.0/0 when `server_address` is set, else is left out.
std::string render_api_versions(const server_model& model, std::string_view server_address = {});
// GET /apis/<g> legacy APIGroup; nullopt when the group is not served.
std::optional<std::string> render_api_group(const server_model& model, std::string_view group);
// GET /api/<v> or /apis/<g>/<v> legacy APIResourceList, subresources as "r/sub"
// entries after their parent; nullopt when the group version is not served.
std::optional<std::string> render_resource_list(const server_model& model, std::string_view group,
                                                std::string_view version);

// The ETag of a rendered document: the quoted upper-case hex SHA-512 of the body.
std::string etag_for(std::string_view body);

}  // namespace mvproxy::discovery
