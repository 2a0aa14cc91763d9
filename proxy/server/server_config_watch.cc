// The config file as a source of snapshots: SIGHUP, POST /reload and the directory watch all
// read it here and hand it to Server::publish().

#include "proxy/server/files.h"
#include "proxy/server/server.h"

#include "config/loader.h"
#include "strait/common/log.h"

namespace strait::server {

bool Server::reloadFile(ConfigSource source) {
  // The text is read once: what is hashed (for the watch) is exactly what is parsed.
  std::string text = readFile(options_.config_path);
  auto loaded = config::loadFileText(text, options_.config_path);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) {
      STRAIT_LOG(Error, "reload (%s) rejected: %s", configSourceName(source),
                 e.toString().c_str());
    }
    store_->mainShard().inc(publish_rejected_[source]);
    store_->mainShard().inc(reload_rejected_);
    return false;
  }
  config::BootstrapSharedPtr config = loaded.bootstrap;
  if (discovery_ != nullptr) {
    // The file gives the static part; what strait-cp pushed stays.
    discovery::Assembled assembled = assembleDiscovered(loaded.bootstrap->canonical, discovered_);
    if (!assembled.loaded.ok()) {
      STRAIT_LOG(Error, "reload (%s) rejected: with the control plane's resources: %s",
                 configSourceName(source), assembled.error.c_str());
      store_->mainShard().inc(publish_rejected_[source]);
      store_->mainShard().inc(reload_rejected_);
      return false;
    }
    config = withSourcePath(assembled.loaded.bootstrap);
  }
  std::string error;
  if (!publish(config, {source, {}}, error)) {
    STRAIT_LOG(Error, "reload (%s) rejected: %s", configSourceName(source), error.c_str());
    return false;
  }
  if (discovery_ != nullptr) {
    static_canonical_ = loaded.bootstrap->canonical;
  }
  applied_file_hash_ = config::contentHash(text);
  return true;
}

// The config file is watched through its directory, not the file itself: editors save by writing
// a new file and renaming it over the old one, and a Kubernetes ConfigMap volume swaps a `..data`
// symlink, and in both cases a watch on the old inode would go silent. Any event in the
// directory arms a short debounce timer; when it fires, the file is read and reloaded only if
// its content hash differs from the version in force.
void Server::startConfigWatch() {
  std::string dir = options_.config_path;
  size_t slash = dir.find_last_of('/');
  dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : dir.substr(0, slash));
  config_watch_ = new uv_fs_event_t;
  uv_fs_event_init(dispatcher_.loop(), config_watch_);
  config_watch_->data = this;
  int rc = uv_fs_event_start(
      config_watch_,
      [](uv_fs_event_t* handle, const char*, int, int) {
        auto* self = static_cast<Server*>(handle->data);
        if (self != nullptr) {
          self->onConfigDirectoryEvent();
        }
      },
      dir.c_str(), 0);
  if (rc != 0) {
    STRAIT_LOG(Warn, "cannot watch %s for config changes (%s); SIGHUP still reloads", dir.c_str(),
               uv_strerror(rc));
    return;
  }
  config_debounce_ = dispatcher_.createTimer([this]() {
    if (draining_) {
      return;
    }
    std::string text = readFile(options_.config_path);
    std::string hash = config::contentHash(text);
    // Unchanged, mid-replace (the next event re-arms the timer), or a content already tried
    // (a rejected file is not rejected again on every unrelated event in its directory).
    if (text.empty() || hash == applied_file_hash_ || hash == last_watched_hash_) {
      return;
    }
    last_watched_hash_ = hash;
    reloadFile(ConfigSource::FileChange);
  });
}

void Server::onConfigDirectoryEvent() {
  if (config_debounce_ != nullptr) {
    config_debounce_->enableTimer(std::chrono::milliseconds(100));
  }
}

}  // namespace strait::server
