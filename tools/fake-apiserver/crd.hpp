#pragma once
// CustomResourceDefinitions as kube-apiserver's apiextensions part treats them, as pure
// functions: validation (the 422 a bad CRD gets), the status its controllers converge
// on (Established at once: there is no etcd to wait for here), and the discovery
// entries (group_info) its served versions add to every apiserver.

#include "discovery.hpp"
#include "status.hpp"
#include "store.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace fake_apiserver {

inline const group_resource crd_resource{"apiextensions.k8s.io", "customresourcedefinitions"};

// One field.Error of the apiserver's validation.
struct crd_problem {
  std::string field;   // "spec.names.plural"
  std::string reason;  // FieldValueRequired, FieldValueInvalid, FieldValueNotSupported
  std::string message;
};

// Every problem the apiserver reports for this CRD (empty: valid).
std::vector<crd_problem> validate_crd(const nlohmann::json& crd);

// The 422 Invalid Status for those problems, worded as kube-apiserver words it.
response crd_invalid(const std::string& name, const std::vector<crd_problem>& problems);

// The status NamesAccepted/Established controllers write: conditions, acceptedNames,
// storedVersions (the previous ones plus today's storage version).
nlohmann::json crd_status(const nlohmann::json& crd, const nlohmann::json& previous_status);

// Validates and fills status; the 422 to answer when the CRD is invalid.
std::optional<response> prepare_crd(nlohmann::json& crd, const nlohmann::json& previous);

// The group/resource a CRD's custom resources are stored under.
group_resource custom_resource_of(const nlohmann::json& crd);

// The groups the CRDs serve: one resource per served version, versions in
// kube-aware priority order (v2 > v1 > v1beta1 > v1alpha1 > other), groups by name.
std::vector<group_info> crd_groups(const std::vector<nlohmann::json>& crds);

// True when version a has higher priority than b (apimachinery's
// CompareKubeAwareVersionStrings).
bool version_before(const std::string& a, const std::string& b);

}  // namespace fake_apiserver
