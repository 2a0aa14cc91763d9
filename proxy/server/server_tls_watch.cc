#include <algorithm>

#include "config/canonical.h"
#include "proxy/server/files.h"
#include "proxy/server/server.h"
#include "strait/common/log.h"

namespace strait::server {

// Certificate rotation. Every TLS file a snapshot loaded is watched through its directory (like the config file, so
// renames and Kubernetes secret symlink swaps are seen). When their combined content changes,
// the same config is built again: the new snapshot's listeners load the new files and serve new
// handshakes with them, while open connections keep the context they started with; a cluster
// whose TLS files changed gets a new ClusterInfo (new pools; the old ones drain). A file that
// does not load (half written, a key that does not match) leaves the old snapshot serving and is
// logged; the next change is tried again.

namespace {

std::vector<std::string> tlsFiles(const config::Bootstrap& config) {
  std::vector<std::string> files;
  const std::string base = tls::directoryOf(config.source_path);
  for (const auto& listener : config.listeners) {
    if (listener.tls) {
      for (const auto& file : tls::listenerTlsFiles(*listener.tls)) {
        files.push_back(tls::resolvePath(base, file));
      }
    }
  }
  for (const auto& cluster : config.clusters) {
    if (cluster.tls) {
      for (const auto& file : tls::clusterTlsFiles(*cluster.tls)) {
        files.push_back(tls::resolvePath(base, file));
      }
    }
  }
  return files;
}

std::string filesHash(const std::vector<std::string>& files) {
  std::string all;
  for (const auto& file : files) {
    all += file;
    all.push_back('\0');
    all += readFile(file);
    all.push_back('\0');
  }
  return config::contentHash(all);
}

}  // namespace

void Server::syncTlsWatches() {
  std::vector<std::string> files = tlsFiles(*snapshot_->config);
  tls_files_hash_ = filesHash(files);
  std::vector<std::string> dirs;
  for (const auto& file : files) {
    std::string dir = tls::directoryOf(file);
    dir = dir.empty() ? "." : dir;
    if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) {
      dirs.push_back(dir);
    }
  }
  std::sort(dirs.begin(), dirs.end());
  if (dirs == tls_watched_dirs_) {
    return;
  }
  for (auto* w : tls_watches_) {
    event::DispatcherImpl::closeHandle(w);
  }
  tls_watches_.clear();
  tls_watched_dirs_ = dirs;
  if (tls_debounce_ == nullptr) {
    tls_debounce_ = dispatcher_.createTimer([this]() { onTlsFilesChanged(); });
  }
  for (const auto& dir : dirs) {
    auto* watch = new uv_fs_event_t;
    uv_fs_event_init(dispatcher_.loop(), watch);
    watch->data = this;
    int rc = uv_fs_event_start(
        watch,
        [](uv_fs_event_t* handle, const char*, int, int) {
          auto* self = static_cast<Server*>(handle->data);
          if (self != nullptr && self->tls_debounce_ != nullptr) {
            self->tls_debounce_->enableTimer(std::chrono::milliseconds(100));
          }
        },
        dir.c_str(), 0);
    if (rc != 0) {
      STRAIT_LOG(Warn, "cannot watch %s for certificate changes (%s); SIGHUP reloads them",
                 dir.c_str(), uv_strerror(rc));
    }
    tls_watches_.push_back(watch);
  }
}

void Server::onTlsFilesChanged() {
  if (stopping_ || draining_) {
    return;
  }
  std::string hash = filesHash(tlsFiles(*snapshot_->config));
  if (hash == tls_files_hash_) {
    return;
  }
  tls_files_hash_ = hash;  // a file that fails to load is not retried until it changes again
  std::string error;
  if (!publish(snapshot_->config, {ConfigSource::CertificateRotation, {}}, error)) {
    STRAIT_LOG(Error, "certificate change not applied (the old certificates keep serving): %s",
               error.c_str());
  }
}

}  // namespace strait::server
