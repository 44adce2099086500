#include "mvproxy/tls/provider.hpp"

namespace mvproxy::tls {

file_watch::file_watch(std::vector<std::string> files) : files_(std::move(files)) {
  for (auto& f : files_) stamps_.push_back(stat(f));
}

file_watch::stamp file_watch::stat(const std::string& file) {
  std::error_code ec;
  stamp s;
  s.mtime = std::filesystem::last_write_time(file, ec);
  if (ec) return {};
  s.size = std::filesystem::file_size(file, ec);
  s.exists = !ec;
  return s;
}

bool file_watch::changed() {
  bool any = false;
  for (std::size_t i = 0; i < files_.size(); ++i) {
    stamp now = stat(files_[i]);
    if (!(now == stamps_[i])) {
      stamps_[i] = now;
      any = true;
    }
  }
  return any;
}

namespace {
std::vector<std::string> watched(const server_files& s, const client_files& u,
                                 const std::optional<client_files>& p) {
  std::vector<std::string> out;
  for (auto* f : {&s.cert_file, &s.key_file, &s.client_ca_file, &s.requestheader_ca_file,
                  &u.ca_file, &u.cert_file, &u.key_file})
    if (!f->empty()) out.push_back(*f);
  if (p)
    for (auto* f : {&p->ca_file, &p->cert_file, &p->key_file})
      if (!f->empty()) out.push_back(*f);
  return out;
}
std::vector<certificate_expiry> read_expirations(const server_files& s, const client_files& u,
                                                 const std::optional<client_files>& p) {
  return expirations_of({{"serving", s.cert_file},
                         {"client-ca", s.client_ca_file},
                         {"requestheader-client-ca", s.requestheader_ca_file},
                         {"upstream-ca", u.ca_file},
                         {"proxy-client", u.cert_file},
                         {"peer-ca", p ? p->ca_file : std::string()}});
}
client_files without_certificate(client_files f) {
  f.cert_file.clear();
  f.key_file.clear();
  return f;
}
}  // namespace

provider::provider(server_files server, client_files upstream, std::optional<client_files> peers)
    : server_files_(std::move(server)),
      upstream_files_(std::move(upstream)),
      peer_files_(std::move(peers)),
      watch_(watched(server_files_, upstream_files_, peer_files_)) {
  server_.store(std::make_shared<server_context>(server_files_));
  upstream_.store(std::make_shared<client_context>(upstream_files_));
  anonymous_upstream_.store(std::make_shared<client_context>(without_certificate(upstream_files_)));
  if (peer_files_) peers_.store(std::make_shared<client_context>(*peer_files_));
  expirations_ = read_expirations(server_files_, upstream_files_, peer_files_);
}

std::vector<certificate_expiry> provider::expirations() const {
  std::lock_guard lock(expirations_mutex_);
  return expirations_;
}

reload_result provider::reload_if_changed() {
  reload_result r;
  if (!watch_.changed()) return r;
  // Build everything first so a half-renewed set (new cert, old key) changes nothing;
  // the next change of either file triggers another attempt.
  try {
    auto s = std::make_shared<server_context>(server_files_);
    auto u = std::make_shared<client_context>(upstream_files_);
    auto a = std::make_shared<client_context>(without_certificate(upstream_files_));
    std::shared_ptr<client_context> p;
    if (peer_files_) p = std::make_shared<client_context>(*peer_files_);
    server_.store(std::move(s));
    upstream_.store(std::move(u));
    anonymous_upstream_.store(std::move(a));
    if (p) peers_.store(std::move(p));
    auto e = read_expirations(server_files_, upstream_files_, peer_files_);
    std::lock_guard lock(expirations_mutex_);
    expirations_ = std::move(e);
    r.reloaded = true;
  } catch (const error& e) {
    r.error = e.what();
  }
  return r;
}

}  // namespace mvproxy::tls
