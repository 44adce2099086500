#pragma once
// The current TLS contexts, replaced when their files change (kubeadm renews
// certificates in place). Readers take a shared_ptr snapshot per new connection, so a
// reload never disturbs connections already open.

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mvproxy/tls/contexts.hpp"
#include "mvproxy/tls/expiry.hpp"

namespace mvproxy::tls {

// Remembers size and mtime of a set of files; `changed()` says whether any differs
// since the last call that returned true (or construction).
class file_watch {
 public:
  explicit file_watch(std::vector<std::string> files);
  bool changed();

 private:
  struct stamp {
    std::filesystem::file_time_type mtime{};
    std::uintmax_t size = 0;
    bool exists = false;
    bool operator==(const stamp&) const = default;
  };
  static stamp stat(const std::string& file);
  std::vector<std::string> files_;
  std::vector<stamp> stamps_;
};

struct reload_result {
  bool reloaded = false;
  std::string error;  // set when files changed but could not be used (old ones kept)
};

class provider {
 public:
  // Builds every context now; throws tls::error naming the file on failure.
  provider(server_files server, client_files upstream, std::optional<client_files> peers);

  std::shared_ptr<server_context> server() const { return server_.load(); }
  std::shared_ptr<client_context> upstream() const { return upstream_.load(); }
  // The same apiserver, no client certificate: for callers who offered no credentials,
  // so the apiserver sees system:anonymous as it would without the sidecar.
  std::shared_ptr<client_context> anonymous_upstream() const { return anonymous_upstream_.load(); }
  std::shared_ptr<client_context> peers() const { return peers_.load(); }  // may be null

  // Rebuilds the contexts when a file changed. Not thread-safe with itself (one poller).
  reload_result reload_if_changed();

  // notAfter of the certificates in use: read at construction and at each successful
  // reload, so a renewal on disk that was not usable does not hide the old expiry.
  std::vector<certificate_expiry> expirations() const;

 private:
  server_files server_files_;
  client_files upstream_files_;
  std::optional<client_files> peer_files_;
  file_watch watch_;
  std::atomic<std::shared_ptr<server_context>> server_;
  std::atomic<std::shared_ptr<client_context>> upstream_;
  std::atomic<std::shared_ptr<client_context>> anonymous_upstream_;
  std::atomic<std::shared_ptr<client_context>> peers_;
  mutable std::mutex expirations_mutex_;
  std::vector<certificate_expiry> expirations_;
};

}  // namespace mvproxy::tls
