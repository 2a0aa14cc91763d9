#include "proxy/upstream/health_checker.h"

#include <algorithm>

#include <cerrno>
#include <cstring>

#include "proxy/network/connection_impl.h"
#include "proxy/tls/tls_connection.h"
#include "strait/common/log.h"
#include "strait/http/http1_codec.h"

namespace strait::upstream {

namespace {

// One check's connection and response parser. Handed to deferredDelete() when the check ends,
// because it usually ends inside one of its own callbacks; once `owner` is cleared every late
// callback is ignored.
class CheckSession : public event::DeferredDeletable,
                     public network::ConnectionCallbacks,
                     public http::http1::ClientCallbacks {
 public:
  using Done = void (*)(void* owner, bool ok, std::string reason);

  // With `tls` (the cluster's), the check runs over TLS like the cluster's traffic.
  CheckSession(event::DispatcherImpl& dispatcher, void* owner, Done done,
               const tls::ClientContextSharedPtr& tls, const std::string& host_address)
      : owner_(owner), done_(done) {
    auto transport = std::make_unique<network::ConnectionImpl>(dispatcher);
    transport_ = transport.get();
    if (tls != nullptr) {
      connection_ = tls::TlsConnection::client(tls, std::move(transport), dispatcher, host_address);
    } else {
      connection_ = std::move(transport);
    }
    codec_ = http::http1::createClientCodec(*this);
    connection_->setCallbacks(*this);
  }

  void start(const sockaddr* address, const std::string& authority, const std::string& path) {
    http::RequestHeaders headers;
    headers.method = "GET";
    headers.path = path;
    headers.authority = authority;
    headers.scheme = "http";
    headers.headers.add("user-agent", "strait-health-check");
    http::http1::MessageInfo info;
    buffer::Buffer out;
    codec_->encodeHeaders(headers, info, out);
    transport_->connect(address);
    connection_->write(out);  // queued until the connect (and TLS handshake) completes
  }

  // Stops reporting and closes the connection now.
  void cancel() {
    owner_ = nullptr;
    if (connection_->state() != network::Connection::State::Closed) {
      connection_->close(network::CloseType::NoFlush);
    }
  }

  // network::ConnectionCallbacks
  void onData(const char* data, size_t len) override {
    if (owner_ == nullptr) {
      return;
    }
    codec_->dispatch(data, len);
  }
  void onEvent(network::ConnectionEvent event) override {
    switch (event) {
      case network::ConnectionEvent::Connected:
        return;
      case network::ConnectionEvent::ConnectFailed: {
        const std::string& why = connection_->failureReason();
        finish(false, why == uv_strerror(UV_ECONNREFUSED) ? "connect refused"
                                                          : "connect failed: " + why);
        return;
      }
      case network::ConnectionEvent::RemoteHalfClose:
        if (owner_ != nullptr && !codec_->onEof()) {
          finish(false, "connection closed before a response");
        }
        return;
      case network::ConnectionEvent::RemoteReset:
        finish(false, "connection reset");
        return;
    }
  }

  // http::http1::ClientCallbacks
  void onResponseHeaders(http::ResponseHeaders& headers, const http::http1::MessageInfo&) override {
    status_ = headers.status;
  }
  void onResponseBody(const char*, size_t) override {}
  void onResponseComplete() override {
    bool ok = status_ >= 200 && status_ < 300;
    finish(ok, ok ? "ok" : "status " + std::to_string(status_));
  }
  void onResponseError(std::string_view reason) override {
    finish(false, "bad response: " + std::string(reason));
  }

 private:
  void finish(bool ok, std::string reason) {
    if (owner_ == nullptr) {
      return;
    }
    void* owner = owner_;
    owner_ = nullptr;
    done_(owner, ok, std::move(reason));  // may hand this session to deferredDelete()
  }

  network::ConnectionPtr connection_;     // the TCP connection, or TLS over it
  network::ConnectionImpl* transport_;   // the TCP connection (to connect it)
  std::unique_ptr<http::http1::ClientCodec> codec_;
  void* owner_;
  Done done_;
  uint16_t status_ = 0;
};

}  // namespace

// The timers, the check in flight and the state of one host.
class HealthChecker::HostCheck {
 public:
  HostCheck(HealthChecker& parent, HostSharedPtr host)
      : parent_(parent),
        host_(std::move(host)),
        state_(parent.check_.healthy_threshold, parent.check_.unhealthy_threshold,
               host_->healthy()) {
    interval_timer_ = parent_.dispatcher_.createTimer([this]() { startCheck(); });
    timeout_timer_ = parent_.dispatcher_.createTimer([this]() { onDone(false, "timeout"); });
    interval_timer_->enableTimer(parent_.jitteredInterval());
  }

  ~HostCheck() { endSession(); }

  Host& host() const { return *host_; }
  const HostHealthStatus& status() const { return status_; }
  bool healthy() const { return state_.healthy(); }

 private:
  void startCheck() {
    parent_.store_.mainShard().inc(parent_.stats_.attempts);
    auto session = std::make_unique<CheckSession>(
        parent_.dispatcher_, this, [](void* owner, bool ok, std::string reason) {
          static_cast<HostCheck*>(owner)->onDone(ok, std::move(reason));
        },
        parent_.cluster_->tls, host_->address());
    session_ = session.get();
    session_owner_ = std::move(session);
    const auto& impl = static_cast<const HostImpl&>(*host_);
    session_->start(impl.sockAddr(), parent_.cluster_->config.name, parent_.check_.path);
    timeout_timer_->enableTimer(parent_.check_.timeout);
  }

  void onDone(bool ok, std::string reason) {
    timeout_timer_->disableTimer();
    endSession();
    if (!ok) {
      parent_.store_.mainShard().inc(parent_.stats_.failures);
    }
    HealthTransition transition = ok ? state_.onSuccess() : state_.onFailure();
    status_.checked = true;
    status_.last_ok = ok;
    status_.reason = std::move(reason);
    status_.consecutive_successes = state_.consecutiveSuccesses();
    status_.consecutive_failures = state_.consecutiveFailures();
    status_.last_check = parent_.dispatcher_.timeSource().systemTime();
    parent_.onResult(*this, transition, ok);
    interval_timer_->enableTimer(parent_.jitteredInterval());
  }

  void endSession() {
    if (session_ != nullptr) {
      session_->cancel();
      session_ = nullptr;
      parent_.dispatcher_.deferredDelete(std::move(session_owner_));
    }
  }

  HealthChecker& parent_;
  HostSharedPtr host_;
  HealthState state_;
  HostHealthStatus status_;
  event::TimerPtr interval_timer_;
  event::TimerPtr timeout_timer_;
  CheckSession* session_ = nullptr;
  event::DeferredDeletablePtr session_owner_;
};

HealthChecker::HealthChecker(event::DispatcherImpl& dispatcher, RandomGenerator& random,
                             ClusterInfoSharedPtr cluster, HostSetSharedPtr hosts,
                             const config::HealthCheck& check, stats::Store& store)
    : dispatcher_(dispatcher),
      random_(random),
      cluster_(std::move(cluster)),
      host_set_(std::move(hosts)),
      check_(check),
      store_(store) {
  const stats::Labels labels{{"cluster", cluster_->config.name}};
  stats_.attempts = store.counter("strait_dp_health_check_attempts_total",
                                  "Active health checks started.", labels);
  stats_.failures = store.counter("strait_dp_health_check_failures_total",
                                  "Active health checks that failed (connect, timeout, non-2xx).",
                                  labels);
  stats_.healthy_hosts = store.gauge("strait_dp_health_check_healthy_hosts",
                                     "Hosts the active health check holds healthy.", labels);
  stats_.upstream_healthy_hosts =
      store.gauge("strait_dp_upstream_healthy_hosts",
                  "Hosts the load balancers may pick as healthy (0: panic, all hosts used).",
                  labels);
  for (const auto& host : host_set_->hosts()) {
    hosts_.push_back(std::make_unique<HostCheck>(*this, host));
  }
  updateGauges();
}

HealthChecker::~HealthChecker() = default;

void HealthChecker::updateHosts(HostSetSharedPtr hosts) {
  if (hosts == host_set_) {
    return;
  }
  std::vector<std::unique_ptr<HostCheck>> next;
  for (const auto& host : hosts->hosts()) {
    auto it = std::find_if(hosts_.begin(), hosts_.end(),
                           [&](const auto& check) { return &check->host() == host.get(); });
    if (it != hosts_.end()) {
      next.push_back(std::move(*it));
      hosts_.erase(it);
    } else {
      next.push_back(std::make_unique<HostCheck>(*this, host));
    }
  }
  hosts_ = std::move(next);  // the checks of hosts that left stop here
  host_set_ = std::move(hosts);
  updateGauges();
}

const HostHealthStatus* HealthChecker::status(const Host& host) const {
  for (const auto& check : hosts_) {
    if (&check->host() == &host) {
      return &check->status();
    }
  }
  return nullptr;
}

uint32_t HealthChecker::healthyHosts() const {
  uint32_t n = 0;
  for (const auto& check : hosts_) {
    n += check->healthy() ? 1 : 0;
  }
  return n;
}

void HealthChecker::onResult(HostCheck& check, HealthTransition transition, bool ok) {
  (void)ok;
  if (transition == HealthTransition::None) {
    return;
  }
  bool healthy = transition == HealthTransition::BecameHealthy;
  check.host().setHealthy(healthy);
  STRAIT_LOG(Info, "cluster %s: host %s is now %s (%s)", cluster_->config.name.c_str(),
             check.host().addressString().c_str(), healthy ? "healthy" : "unhealthy",
             check.status().reason.c_str());
  updateGauges();
}

std::chrono::milliseconds HealthChecker::jitteredInterval() {
  // ±10%: spreads the checks of many hosts (and many proxies) over the interval.
  int64_t interval = check_.interval.count();
  int64_t spread = interval / 5;  // the width of the ±10% window
  int64_t offset = spread > 0 ? static_cast<int64_t>(random_.bounded(spread + 1)) - spread / 2 : 0;
  return std::chrono::milliseconds(std::max<int64_t>(1, interval + offset));
}

void HealthChecker::updateGauges() {
  int64_t healthy = healthyHosts();
  store_.mainShard().set(stats_.healthy_hosts, healthy);
  store_.mainShard().set(stats_.upstream_healthy_hosts, healthy);
}

bool sameHealthCheck(const config::HealthCheck& a, const config::HealthCheck& b) {
  return a.path == b.path && a.interval == b.interval && a.timeout == b.timeout &&
         a.healthy_threshold == b.healthy_threshold &&
         a.unhealthy_threshold == b.unhealthy_threshold;
}

}  // namespace strait::upstream
