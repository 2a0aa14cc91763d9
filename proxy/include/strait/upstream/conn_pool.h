#pragma once

// What a request sees of its upstream, whatever the protocol: a pool per host per worker that
// hands out an UpstreamClient (one exchange: an HTTP/1.1 connection while it carries the
// request, or one HTTP/2 stream on a shared connection), and the callbacks the exchange reports
// to. Http1Pool and Http2Pool (proxy/upstream/) implement it; the router (proxy/http/router.h)
// uses only this contract, so its tests run it over fakes (tests/mocks/fake_upstream.h).

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "strait/buffer/buffer.h"
#include "strait/http/header_map.h"
#include "strait/http/http1_codec.h"
#include "strait/upstream/host.h"
#include "strait/upstream/load_balancer.h"

namespace strait::upstream {

enum class UpstreamFailure {
  ConnectFailure,  // UF
  ConnectTimeout,  // UF
  Overflow,        // UO: too many connections and pending requests
  Reset,           // UR: closed or reset before a complete response
  ProtocolError,   // the upstream sent invalid HTTP (502)
};

// What the request side of a proxied exchange hears from its upstream connection.
class UpstreamStreamCallbacks {
 public:
  virtual ~UpstreamStreamCallbacks() = default;
  virtual void onUpstreamHeaders(http::ResponseHeaders& headers,
                                 const http::http1::MessageInfo& info) = 0;
  virtual void onUpstreamData(const char* data, size_t len) = 0;
  // Response trailers (HTTP/2 upstreams; gRPC's grpc-status), just before onUpstreamComplete().
  virtual void onUpstreamTrailers(http::HeaderMap& trailers) { (void)trailers; }
  virtual void onUpstreamComplete() = 0;
  // After an upgrade (101), raw bytes of the tunnel.
  virtual void onUpstreamTunnelData(const char* data, size_t len) = 0;
  virtual void onUpstreamError(UpstreamFailure failure, std::string_view detail) = 0;
  // Bracket everything one upstream read produces, so the stream can write it downstream in
  // one go (a response head and a small body in one syscall, not two).
  virtual void onUpstreamReadBegin() {}
  virtual void onUpstreamReadEnd() {}
  // Flow control of the request body towards the upstream.
  virtual void onUpstreamWriteBufferHigh() = 0;
  virtual void onUpstreamWriteBufferLow() = 0;
};

// One request/response exchange with an upstream host.
class UpstreamClient {
 public:
  virtual ~UpstreamClient() = default;
  // The stream that owns this exchange until it completes or resets.
  virtual void attach(UpstreamStreamCallbacks& stream) = 0;
  virtual void encodeHeaders(const http::RequestHeaders& headers,
                             const http::http1::MessageInfo& info) = 0;
  virtual void encodeData(buffer::Buffer& data, bool end_stream) = 0;
  // Raw bytes after an upgrade (HTTP/1.1 only).
  virtual void writeTunnel(buffer::Buffer& data) = 0;
  // Stops (true) or resumes (false) reading the response. Calls nest.
  virtual void readDisable(bool disable) = 0;
  // The stream gives up (downstream reset, timeout).
  virtual void resetStream() = 0;
  // True when a failure before any response byte is safe to retry on a new connection (a
  // reused keep-alive connection that the upstream closed as the request went out).
  virtual bool reused() const = 0;
  // The host this exchange went to (request accounting, outlier reports, access log).
  virtual Host& host() = 0;
};

class PoolCallbacks {
 public:
  virtual ~PoolCallbacks() = default;
  virtual void onPoolReady(UpstreamClient& client) = 0;
  virtual void onPoolFailure(UpstreamFailure failure, std::string_view detail) = 0;
};

// A request waiting for a connection; cancel() withdraws it.
class PendingRequest {
 public:
  virtual ~PendingRequest() = default;
  virtual void cancel() = 0;
};

// Connections to one upstream host, owned by one worker.
class ConnPool {
 public:
  virtual ~ConnPool() = default;
  // Calls onPoolReady()/onPoolFailure() now and returns nullptr, or returns a handle to the
  // waiting request.
  virtual PendingRequest* newStream(PoolCallbacks& callbacks) = 0;
  // Closes idle connections and stops reusing busy ones (the cluster is going away).
  virtual void drain() = 0;
  virtual bool idle() const = 0;
  virtual Host& host() = 0;
};

struct ClusterInfo;

// One cluster as a worker's streams see it: its shape and stats (ClusterInfo, cluster.h), and a
// pool per host picked by its load balancer. WorkerCluster (worker_clusters.h) implements it.
class ThreadLocalCluster {
 public:
  virtual ~ThreadLocalCluster() = default;
  virtual const ClusterInfo& info() const = 0;
  // Picks a host and returns its pool, or nullptr when the cluster has no hosts.
  virtual ConnPool* choosePool(const LbContext& context) = 0;
  // A stream that routed to this cluster holds it until the stream is destroyed: between
  // attempts (retry backoff) and while queued for a max_requests slot it is in no pool, and a
  // drained cluster must not be released under it.
  virtual void addStream() = 0;
  virtual void removeStream() = 0;
  // An attempt on `host` got its response head after `latency` (nullopt: it failed without one)
  // and was good (not a 5xx, reset or timeout), reporting `energy_wh` in the cluster's energy
  // header (nullopt: none): what a carbon-aware cluster's locality tier measures per locality.
  // Called only for clusters with one (ClusterInfo::locality_tier).
  virtual void onHostResult(const Host& host, std::optional<std::chrono::microseconds> latency,
                            bool good, std::optional<double> energy_wh) {
    (void)host;
    (void)latency;
    (void)good;
    (void)energy_wh;
  }
};

// A worker's clusters of the config in force, by name (WorkerClusters in
// proxy/upstream/worker_clusters.h; the fakes in tests/mocks/fake_upstream.h).
class ClusterManager {
 public:
  // The cluster called `name`, or nullptr when the config in force has none.
  virtual ThreadLocalCluster* getThreadLocalCluster(const std::string& name) = 0;

 protected:
  ~ClusterManager() = default;
};

}  // namespace strait::upstream
