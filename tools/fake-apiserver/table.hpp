#pragma once
// The minimal meta.k8s.io Table kube-apiserver's default table convertor produces
// (Name and Age columns), so `kubectl get` prints sensibly.

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace fake_apiserver {

enum class include_object { none, metadata, object };

include_object parse_include_object(const std::string& query_value);

// `api_version` is meta.k8s.io/v1 or meta.k8s.io/v1beta1.
nlohmann::json make_table(const std::vector<nlohmann::json>& objects,
                          const nlohmann::json& list_metadata, include_object include,
                          const std::string& api_version,
                          std::chrono::system_clock::time_point now);

// "5s", "3m", "2h", "4d", "2y" like apimachinery's duration.HumanDuration (short form).
std::string human_age(std::chrono::seconds age);

}  // namespace fake_apiserver
