#pragma once

// Keep-alive HTTP/1.1 connections to one upstream host, owned by one worker.
//
// A request asks the pool for a client with newStream(); it gets one synchronously when an
// idle connection exists, otherwise it waits while the pool connects (at most one new
// connection per waiting request, within the cluster's max_connections). max_connections and
// max_pending_requests are per process: the pool draws on the cluster's ResourceManager. A connection returns
// to the idle list only when its response completed cleanly and both sides said keep-alive.

#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/event/dispatcher_impl.h"
#include "proxy/network/connection_impl.h"
#include "proxy/upstream/cluster.h"
#include "proxy/upstream/cluster.h"
#include "strait/upstream/conn_pool.h"
#include "strait/http/http1_codec.h"

namespace strait::upstream {

class Http1Pool;

// One upstream connection with its codec.
class Http1Client : public UpstreamClient,
                    public network::ConnectionCallbacks,
                       public http::http1::ClientCallbacks,
                       public event::DeferredDeletable {
 public:
  Http1Client(Http1Pool& pool, event::DispatcherImpl& dispatcher);
  ~Http1Client() override;

  // UpstreamClient
  void attach(UpstreamStreamCallbacks& stream) override;
  void encodeHeaders(const http::RequestHeaders& headers,
                     const http::http1::MessageInfo& info) override;
  void encodeData(buffer::Buffer& data, bool end_stream) override;
  void writeTunnel(buffer::Buffer& data) override;
  void readDisable(bool disable) override;
  // The connection cannot be reused after a reset.
  void resetStream() override;
  bool reused() const override { return requests_ > 1; }
  HostImpl& host() override;

  // network::ConnectionCallbacks
  void onData(const char* data, size_t len) override;
  void onEvent(network::ConnectionEvent event) override;
  void onAboveWriteBufferHighWatermark() override;
  void onBelowWriteBufferLowWatermark() override;

  // http::http1::ClientCallbacks
  void onResponseHeaders(http::ResponseHeaders& headers,
                         const http::http1::MessageInfo& info) override;
  void onResponseBody(const char* data, size_t len) override;
  void onResponseComplete() override;
  void onResponseError(std::string_view reason) override;

 private:
  friend class Http1Pool;
  enum class State { Connecting, Idle, Busy, Tunnel, Closed };

  void connect();
  void onDataInRead(const char* data, size_t len);
  void afterResponse();
  void fail(UpstreamFailure failure, std::string_view detail);
  void close();

  Http1Pool& pool_;
  event::DispatcherImpl& dispatcher_;
  network::ConnectionPtr connection_;  // the TCP connection, or TLS over it
  network::ConnectionImpl* transport_;  // the TCP connection (to connect it)
  std::unique_ptr<http::http1::ClientCodec> codec_;
  UpstreamStreamCallbacks* stream_ = nullptr;
  event::TimerPtr timer_;  // connect timeout while connecting, idle timeout while idle
  State state_ = State::Connecting;
  bool request_complete_ = false;
  bool response_complete_ = false;
  bool response_started_ = false;  // a byte of the response arrived
  bool keep_alive_ = true;
  bool upgrade_requested_ = false;  // the request in flight asked for an upgrade
  uint64_t requests_ = 0;
  uint64_t last_rx_ = 0;
  uint64_t last_tx_ = 0;
  std::list<std::unique_ptr<Http1Client>>::iterator self_;
};

class Http1Pool : public ConnPool {
 public:
  Http1Pool(event::DispatcherImpl& dispatcher, HostImpl& host, const ClusterInfo& cluster,
            stats::Shard& shard);
  ~Http1Pool();

  // Calls onPoolReady()/onPoolFailure() now and returns nullptr, or returns a handle to the
  // waiting request.
  PendingRequest* newStream(PoolCallbacks& callbacks) override;
  // Closes idle connections and stops reusing busy ones (the cluster is going away).
  void drain() override;
  bool idle() const override { return clients_.empty() && pending_.empty(); }

  HostImpl& host() override { return host_; }
  const ClusterInfo& cluster() const { return cluster_; }
  stats::Shard& shard() { return shard_; }

 private:
  friend class Http1Client;
  struct Pending : public PendingRequest {
    // Holds one unit of the cluster's per-process max_pending_requests (taken by newStream()).
    Pending(Http1Pool& pool, PoolCallbacks& callbacks) : pool(pool), callbacks(callbacks) {}
    ~Pending();
    void cancel() override;
    Http1Pool& pool;
    PoolCallbacks& callbacks;
    std::list<std::unique_ptr<Pending>>::iterator self;
  };

  void onClientConnected(Http1Client& client);
  void onClientConnectFailed(Http1Client& client, UpstreamFailure failure,
                             std::string_view detail);
  void onClientReleased(Http1Client& client);
  void onClientClosed(Http1Client& client);
  void assign(Http1Client& client);
  // Opens a connection if max_connections allows (see the .cc); false if not.
  bool startClient();

  event::DispatcherImpl& dispatcher_;
  HostImpl& host_;
  const ClusterInfo& cluster_;
  stats::Shard& shard_;
  std::list<std::unique_ptr<Http1Client>> clients_;
  std::list<Http1Client*> idle_;  // most recently used at the front
  std::list<std::unique_ptr<Pending>> pending_;
  uint32_t connecting_ = 0;
  bool draining_ = false;
  bool destroying_ = false;
};

}  // namespace strait::upstream
