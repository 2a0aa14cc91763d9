#pragma once

// HTTP/2 connections to one upstream host (cluster `protocol: http2`), owned by one worker:
// cleartext with prior knowledge (h2c; h2 by ALPN comes with upstream TLS). Requests are
// multiplexed as streams on one connection, up to the peer's SETTINGS_MAX_CONCURRENT_STREAMS;
// beyond that, and while the connection is being set up, they wait (max_pending_requests, per
// process). A pool opens its one connection even over max_connections (per process; counted).
// A connection that received GOAWAY or failed is retired: its streams finish or fail, and the
// next request opens a new one. Response trailers (gRPC's grpc-status) are passed on.
//
// Flow control: response DATA is given back to the upstream's window as it is handed to the
// request's stream, except while that stream has paused reading (its downstream is full). The
// request body is queued per stream (at most 256 KiB before the downstream is paused) and sent as
// the upstream's windows allow.

#include <list>
#include <memory>
#include <string>

#include "proxy/event/dispatcher_impl.h"
#include "proxy/network/connection_impl.h"
#include "proxy/upstream/cluster.h"
#include "strait/upstream/conn_pool.h"

namespace strait::upstream {

class Http2Pool : public ConnPool {
 public:
  Http2Pool(event::DispatcherImpl& dispatcher, HostImpl& host, const ClusterInfo& cluster,
            stats::Shard& shard);
  ~Http2Pool() override;

  // ConnPool
  PendingRequest* newStream(PoolCallbacks& callbacks) override;
  void drain() override;
  bool idle() const override;
  HostImpl& host() override { return host_; }

  // Declared in http2_pool_internal.h; defined in http2_pool_connection.cc and http2_pool.cc.
  class Connection;
  class Stream;

 private:
  friend class Connection;
  struct Pending : public PendingRequest {
    // Holds one unit of the cluster's per-process max_pending_requests (taken by newStream()).
    Pending(Http2Pool& pool, PoolCallbacks& callbacks) : pool(pool), callbacks(callbacks) {}
    ~Pending();
    void cancel() override;
    Http2Pool& pool;
    PoolCallbacks& callbacks;
    std::list<std::unique_ptr<Pending>>::iterator self;
  };

  // The connection is ready or has room again: hand it waiting requests.
  void onCapacity(Connection& connection);
  void onConnectFailed(Connection& connection, UpstreamFailure failure, std::string_view detail);
  // The connection takes no new streams any more (GOAWAY, closed).
  void retire(Connection& connection);
  void onClosed(Connection& connection);
  void startConnection();

  event::DispatcherImpl& dispatcher_;
  HostImpl& host_;
  const ClusterInfo& cluster_;
  stats::Shard& shard_;
  Connection* current_ = nullptr;  // where new streams go; in connections_
  std::list<std::unique_ptr<Connection>> connections_;
  std::list<std::unique_ptr<Pending>> pending_;
  bool draining_ = false;
  bool destroying_ = false;
};

}  // namespace strait::upstream
