// Signals (main thread): SIGHUP reloads the config file, SIGUSR1 reopens the access log (log
// rotation), SIGTERM/SIGINT drain gracefully and a second one exits at once.

#include <csignal>

#include "proxy/server/server.h"
#include "strait/common/log.h"

namespace strait::server {

void Server::installSignals() {
  for (int signum : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) {
    auto* handle = new uv_signal_t;
    uv_signal_init(dispatcher_.loop(), handle);
    handle->data = this;
    uv_signal_start(
        handle,
        [](uv_signal_t* h, int sig) {
          auto* self = static_cast<Server*>(h->data);
          if (self != nullptr) {
            self->onSignal(sig);
          }
        },
        signum);
    signals_.push_back(handle);
  }
}

void Server::onSignal(int signum) {
  if (signum == SIGHUP) {
    reloadFile(ConfigSource::Signal);
    return;
  }
  if (signum == SIGUSR1) {
    // Log rotation: the file was renamed; lines queued from now on go to a fresh one.
    std::string error;
    if (!access_log_->reopen(error)) {
      STRAIT_LOG(Error, "SIGUSR1: access log not reopened: %s", error.c_str());
    } else if (!access_log_->path().empty()) {
      STRAIT_LOG(Info, "SIGUSR1: access log %s reopened", access_log_->path().c_str());
    }
    return;
  }
  if (draining_) {
    STRAIT_LOG(Warn, "second %s: exiting now", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    shutdown(0);
    return;
  }
  startDrain(signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

}  // namespace strait::server
