#pragma once

// Keep-alive HTTP/1.1 connections to one upstream host, owned by one worker.
//
// A request asks the pool for a client with newStream(); it gets one synchronously when an
// idle connection exists, otherwise it waits while the pool connects (at most one new
// connection per waiting request, within the cluster's max_connections). A connection returns
// to the idle list only when its response completed cleanly and both sides said keep-alive.

#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/event/dispatcher_impl.h"
#include "proxy/network/connection_impl.h"
#include "proxy/upstream/cluster.h"
#include "strait/http/http1_codec.h"

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

class Http1Pool;

// One upstream connection with its codec.
class UpstreamClient : public network::ConnectionCallbacks,
                       public http::http1::ClientCallbacks,
                       public event::DeferredDeletable {
 public:
  UpstreamClient(Http1Pool& pool, event::DispatcherImpl& dispatcher);
  ~UpstreamClient() override;

  // The stream that owns this client until it completes or resets.
  void attach(UpstreamStreamCallbacks& stream);
  void encodeHeaders(const http::RequestHeaders& headers, const http::http1::MessageInfo& info);
  void encodeData(buffer::Buffer& data, bool end_stream);
  // Raw bytes after an upgrade.
  void writeTunnel(buffer::Buffer& data);
  void readDisable(bool disable);
  // The stream gives up (downstream reset, timeout): the connection cannot be reused.
  void resetStream();
  // True once the request it carried had been sent whole and no response byte arrived: a
  // failure then is safe to retry on a new connection.
  bool reused() const { return requests_ > 1; }
  const HostImpl& host() const;

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
  std::list<std::unique_ptr<UpstreamClient>>::iterator self_;
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

class Http1Pool {
 public:
  Http1Pool(event::DispatcherImpl& dispatcher, HostImpl& host, const ClusterInfo& cluster,
            stats::Shard& shard);
  ~Http1Pool();

  // Calls onPoolReady()/onPoolFailure() now and returns nullptr, or returns a handle to the
  // waiting request.
  PendingRequest* newStream(PoolCallbacks& callbacks);
  // Closes idle connections and stops reusing busy ones (the cluster is going away).
  void drain();
  bool idle() const { return clients_.empty() && pending_.empty(); }

  HostImpl& host() { return host_; }
  const ClusterInfo& cluster() const { return cluster_; }
  stats::Shard& shard() { return shard_; }

 private:
  friend class UpstreamClient;
  struct Pending : public PendingRequest {
    Pending(Http1Pool& pool, PoolCallbacks& callbacks) : pool(pool), callbacks(callbacks) {}
    void cancel() override;
    Http1Pool& pool;
    PoolCallbacks& callbacks;
    std::list<std::unique_ptr<Pending>>::iterator self;
  };

  void onClientConnected(UpstreamClient& client);
  void onClientConnectFailed(UpstreamClient& client, UpstreamFailure failure,
                             std::string_view detail);
  void onClientReleased(UpstreamClient& client);
  void onClientClosed(UpstreamClient& client);
  void assign(UpstreamClient& client);

  event::DispatcherImpl& dispatcher_;
  HostImpl& host_;
  const ClusterInfo& cluster_;
  stats::Shard& shard_;
  std::list<std::unique_ptr<UpstreamClient>> clients_;
  std::list<UpstreamClient*> idle_;  // most recently used at the front
  std::list<std::unique_ptr<Pending>> pending_;
  uint32_t connecting_ = 0;
  bool draining_ = false;
  bool destroying_ = false;
};

}  // namespace strait::upstream
