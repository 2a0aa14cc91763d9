#pragma once

// What the router of one stream (proxy/http/router.h) needs from the stream it serves, and what
// it reports back. ActiveStream (the downstream side: codec, filters, response encoding, stats)
// implements it; the router's unit tests implement it with a recorder. The router never sees a
// codec, a connection or the process: only this, a cluster (strait/upstream/conn_pool.h) and its
// route.

#include <cstddef>
#include <string>
#include <string_view>

#include "strait/common/random.h"
#include "strait/event/dispatcher.h"
#include "strait/http/header_map.h"
#include "strait/http/http1_codec.h"
#include "strait/stats/stats.h"

namespace strait::http {

class RouterCallbacks {
 public:
  virtual ~RouterCallbacks() = default;

  // ---- context
  virtual event::Dispatcher& routerDispatcher() = 0;
  virtual RandomGenerator& routerRandom() = 0;
  virtual stats::Shard& routerShard() = 0;
  // The request as it goes upstream: normalised; the router applies the route's rewrites.
  virtual RequestHeaders& routerRequest() = 0;
  // The peer's address without the port (the source_ip hash policy).
  virtual const std::string& routerPeerAddress() const = 0;
  // The stream's route-timeout and per-try-timeout timers, owned by the downstream side so that
  // a keep-alive connection reuses them (StreamTimers). The route timer ends in
  // Router::onRouteTimeout(), the per-try timer in Router::onPerTryTimeout().
  virtual event::Timer& routerRouteTimer() = 0;
  virtual event::Timer& routerPerTryTimer() = 0;
  // Stops (true) or resumes (false) reading the request body downstream. Calls nest.
  virtual void routerDownstreamReadDisable(bool disable) = 0;

  // ---- the response of the attempt that won
  virtual void onRouterResponseHeaders(ResponseHeaders& headers,
                                       const http1::MessageInfo& info) = 0;
  virtual void onRouterResponseData(const char* data, size_t len) = 0;
  virtual void onRouterResponseTrailers(HeaderMap& trailers) = 0;
  // The upstream response ended; the router holds nothing upstream any more.
  virtual void onRouterResponseComplete() = 0;
  // After a 101: the upstream's raw bytes, and the upstream closing its side.
  virtual void onRouterTunnelData(const char* data, size_t len) = 0;
  virtual void onRouterTunnelClosed() = 0;
  // Bracket everything one upstream read produces, so the stream writes it in one go.
  virtual void onRouterReadBegin() = 0;
  virtual void onRouterReadEnd() = 0;

  // ---- failures. The router has released everything upstream before it calls these.
  // No response came and none will: answer locally.
  struct LocalReply {
    uint16_t status = 503;
    std::string_view body;
    std::string_view flag;  // UF, UO, UH, UR, UT, UPE
    bool overloaded = false;   // add x-strait-overloaded (circuit breakers, overflow)
    bool unavailable = false;  // no upstream could take it (counted per listener)
  };
  virtual void onRouterLocalReply(const LocalReply& reply) = 0;
  // The response had started when the upstream failed or timed out: cut the stream (UR, UT).
  virtual void onRouterResponseReset(std::string_view flag) = 0;
  // A response flag for the access log that does not end the stream (URX on a retried failure).
  virtual void onRouterFlag(std::string_view flag) = 0;
  // A filter marked the request as arriving while its controller is overloaded
  // (StreamFilterCallbacks::markOverloaded()): no hedges.
  virtual bool routerOverloaded() const { return false; }
};

}  // namespace strait::http
