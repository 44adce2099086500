#pragma once
// Authentication and the deny-list authorizer, as kube-apiserver chains them:
// requestheader (front proxy) → client certificate → static bearer token.
// Pure: takes what the TLS layer verified and the request headers.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fake_apiserver {

struct user_info {
  std::string name;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

struct token_entry {
  std::string token;
  user_info user;
};

// Parses a --token-auth-file (CSV: token,user,uid,"group1,group2"); blank lines and
// lines starting with '#' are skipped. nullopt + error naming the line when malformed.
std::optional<std::vector<token_entry>> parse_token_file(std::string_view text, std::string& error);

// What the TLS layer learned about the client certificate.
struct client_cert {
  bool present = false;
  bool chains_to_client_ca = false;
  bool chains_to_requestheader_ca = false;
  std::string subject_cn;
  std::vector<std::string> subject_o;
  std::string issuer_cn;
};

struct auth_config {
  std::vector<token_entry> tokens;
  std::set<std::string> requestheader_allowed_names;  // empty: any CN from that CA
  std::set<std::string> deny_users;
  std::set<std::string> deny_groups;
};

// Header names lower-case; repeated headers appear repeatedly.
using header_list = std::vector<std::pair<std::string, std::string>>;

std::optional<user_info> authenticate(const auth_config& config, const client_cert& cert,
                                      const header_list& headers);

// When authenticate() found nobody: whether the caller offered credentials (a client
// certificate, a bearer token), which kube-apiserver then rejects with 401, rather
// than none, which makes it system:anonymous.
bool offered_credentials(const client_cert& cert, const header_list& headers);

// Denied by the deny lists, or anonymous: kubeadm's RBAC grants system:anonymous
// nothing beyond the public-info paths.
bool is_denied(const auth_config& config, const user_info& user);

// Impersonate-User / -Group / -Uid / -Extra-* as kube-apiserver's impersonation
// filter applies them: `code` 0 and no user when nothing is impersonated; 400 for
// groups without a user; 403 when the requester is on the deny list.
struct impersonation {
  int code = 0;
  std::string message;
  std::optional<user_info> user;
};
impersonation impersonate(const auth_config& config, const user_info& requester,
                          const header_list& headers);

// Paths kube-apiserver (anonymous auth on, as kubeadm leaves it) answers for
// unauthenticated callers via system:public-info-viewer: health and /version.
bool is_public_info_path(const std::string& path);

user_info anonymous_user();

}  // namespace fake_apiserver
