// The parts of api_handler that make CustomResourceDefinitions live: the effective
// profile, CRD admission and the cascade from a CRD to its custom resources.

#include "api.hpp"
#include "crd.hpp"

namespace fake_apiserver {

std::shared_ptr<const api_profile> api_handler::effective(const api_profile& base) {
  uint64_t revision = store_.last_change(crd_resource);
  auto& cached = effective_[&base];
  if (cached.profile && cached.crd_revision == revision) return cached.profile;
  cached.crd_revision = revision;
  auto groups = crd_groups(store_.list(crd_resource, ""));
  // Without CRDs the base serves as is: no copy, the captured documents unchanged.
  cached.profile = groups.empty() ? std::shared_ptr<const api_profile>(
                                        std::shared_ptr<const api_profile>{}, &base)
                                  : base.with_groups(groups);
  return cached.profile;
}

std::optional<response> api_handler::admit(const group_resource& gr, json& object,
                                           const json& previous) {
  if (gr != crd_resource) return std::nullopt;
  return prepare_crd(object, previous);
}

void api_handler::cascade_delete(const group_resource& gr, const json& object) {
  if (gr != crd_resource) return;
  group_resource custom = custom_resource_of(object);
  if (custom.resource.empty()) return;
  for (const auto& obj : store_.list(custom, "")) {
    const json& meta = obj["metadata"];
    store_.remove(custom, meta.value("namespace", ""), meta.value("name", ""));
  }
}

}  // namespace fake_apiserver
