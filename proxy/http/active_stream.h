#pragma once

// One request's life on an HTTP/1.1 or HTTP/2 connection, downstream side
// (docs/life-of-a-request.md): headers in -> normalisation (hop-by-hop, x-forwarded-*,
// x-request-id) -> route match -> filters -> a direct response, a redirect, or the Router
// (router.h), which runs the upstream attempts -> response out through the filters -> stats and
// the access log. Every failure edge ends in a local reply with a status, a short text body and
// a response flag, or, once the response has started, in a reset of the downstream stream.

#include <optional>
#include <string>
#include <string_view>

#include "proxy/http/downstream_stream.h"
#include "proxy/http/filter_chain.h"
#include "proxy/http/router.h"
#include "strait/http/http1_codec.h"
#include "strait/http/router_callbacks.h"
#include "strait/http/worker_context.h"

namespace strait::http {

// RouterCallbacks is the first base: the router calls it on every request, the filter chain
// (FilterChainOwner) only when the listener has filters; the first base's calls need no thunk.
class ActiveStream final : public RouterCallbacks,
                           public FilterChainOwner,
                           public event::DeferredDeletable {
 public:
  // Where the stream is. Each step only moves forward.
  enum class Phase : uint8_t {
    Request,     // no response yet
    Responding,  // the response head went to the codec (or a filter holds it)
    Written,     // the response's last byte went to the codec
    Finished,    // the stream is over (whole, or reset); nothing more is written
  };

  explicit ActiveStream(DownstreamStream& downstream);
  ~ActiveStream() override;

  // From the downstream codec.
  void decodeHeaders(RequestHeaders& headers, const http1::MessageInfo& info);
  void decodeData(const char* data, size_t len);
  void decodeComplete();
  void decodeTunnelData(const char* data, size_t len);
  // The downstream went away or sent garbage mid-request: abandon the upstream side.
  void onDownstreamReset();
  // A codec error on a request already under way.
  void onDownstreamProtocolError(uint16_t status, std::string_view reason);
  void onDownstreamWriteHigh();
  void onDownstreamWriteLow();
  // The route timeout fired (StreamTimers::route()).
  void onRouteTimeout();
  // The current attempt's per_try_timeout fired (StreamTimers::perTry()).
  void onTryTimeout();

  bool requestComplete() const { return request_complete_; }
  bool tunnelling() const { return tunnel_; }
  const std::string& responseFlags() const { return flags_; }
  // Writes this stream's access log line (once; later calls do nothing). Called by the
  // connection manager when the stream completes, is reset, or its connection closes under it.
  // Defined in access_log_emit.cc.
  void emitAccessLog();

  // FilterChainOwner
  void onDecodeFiltersDone() override;
  void onFilterLocalReply(uint16_t status, std::string_view body, std::string_view flag,
                          const std::vector<HeaderEntry>& headers) override;
  void onFilterReset(std::string_view flag) override;
  void onFilterFlag(std::string_view flag) override { addFlag(flag); }
  void onEncodedData(buffer::Buffer& data, bool end_stream) override;
  void onFilterUpstreamReadDisabled(bool disabled) override;
  void onEncodeHeadersContinued(ResponseHeaders& headers, bool end_stream) override;
  const RequestHeaders& filterRequestHeaders() const override { return *request_; }
  const config::Route* filterRoute() const override;
  std::string_view filterClusterName() const override;
  const std::string& filterPrincipal() const override;
  event::Dispatcher& filterDispatcher() override { return worker_.dispatcher; }
  RandomGenerator& filterRandom() override { return worker_.random; }
  const TimeSource& filterTimeSource() const override {
    return worker_.dispatcher.timeSource();
  }
  stats::Shard& filterStatsShard() override { return worker_.shard; }
  uint32_t filterWorkerIndex() const override { return worker_.index; }
  void onFilterOverloaded() override { overloaded_ = true; }

  // RouterCallbacks
  event::Dispatcher& routerDispatcher() override { return worker_.dispatcher; }
  RandomGenerator& routerRandom() override { return worker_.random; }
  stats::Shard& routerShard() override { return worker_.shard; }
  RequestHeaders& routerRequest() override { return *request_; }
  const std::string& routerPeerAddress() const override { return downstream_.remoteAddress(); }
  event::Timer& routerRouteTimer() override { return downstream_.timers().route(); }
  event::Timer& routerPerTryTimer() override { return downstream_.timers().perTry(); }
  void routerDownstreamReadDisable(bool disable) override { disableDownstreamRead(disable); }
  void onRouterResponseHeaders(ResponseHeaders& headers, const http1::MessageInfo& info) override;
  void onRouterResponseData(const char* data, size_t len) override;
  void onRouterResponseTrailers(HeaderMap& trailers) override {
    downstream_.encodeTrailers(trailers);
  }
  void onRouterResponseComplete() override;
  void onRouterTunnelData(const char* data, size_t len) override;
  void onRouterTunnelClosed() override;
  void onRouterReadBegin() override { batching_ = true; }
  void onRouterReadEnd() override { flushBatch(); }
  void onRouterLocalReply(const LocalReply& reply) override;
  void onRouterResponseReset(std::string_view flag) override;
  void onRouterFlag(std::string_view flag) override { addFlag(flag); }
  bool routerOverloaded() const override { return overloaded_; }

 private:
  void normaliseRequest(RequestHeaders& headers);
  void applyRoute();
  void sendLocalReply(uint16_t status, std::string_view body, std::string_view flag,
                      bool overloaded = false, const std::vector<HeaderEntry>* extra = nullptr);
  // A direct response or a redirect: a head and an optional body, written at once.
  void sendResponse(ResponseHeaders& response, std::string_view body);
  // Response body from the upstream: through the filters (if any), then onEncodedData().
  void encodeBody(buffer::Buffer& data, bool end_stream);
  // The whole response has been written downstream: finish the stream.
  void onResponseWritten();
  void destroyFilters();
  // `holdable`: an upstream response head, which a filter may hold (FilterChain::encodeHeaders);
  // local replies and direct responses are written at once.
  void encodeResponseHeaders(ResponseHeaders& headers, bool end_stream, bool holdable = false);
  // The head past the filters, to the codec.
  void writeResponseHeaders(ResponseHeaders& headers, bool end_stream);
  void finish();
  // The stream's request stats (in flight, by class, time), counted once: just before the
  // response's last bytes are written, so that a client holding its response sees it counted.
  void countCompletion();
  // A stream that ends without a counted response (reset, tunnel) leaves the in-flight gauge.
  void leaveActive();
  // The stream ends without its response written whole: the downstream is reset (`how`).
  void resetStream(network::CloseType how = network::CloseType::NoFlush);
  void releaseUpstream();
  // Response bytes go through here: held while an upstream read is being processed, written
  // downstream when it ends (or before the stream finishes).
  void writeDownstream(buffer::Buffer& data);
  void flushBatch();
  void disableDownstreamRead(bool disable);
  void addFlag(std::string_view flag);
  bool responseStarted() const { return phase_ >= Phase::Responding; }
  // Whether the upstream response has ended (or there was no upstream).
  bool upstreamDone() const { return !router_.has_value() || router_->state() == Router::State::Done; }

  DownstreamStream& downstream_;
  WorkerContext& worker_;
  SnapshotViewSharedPtr snapshot_;  // the config this stream started with
  const ListenerRuntime& listener_;
  RequestHeaders* request_ = nullptr;   // the codec's; valid until the stream ends
  http1::MessageInfo request_info_;
  const router::RouteEntry* route_ = nullptr;
  const RouteStats* route_stats_ = nullptr;
  // Held in place (no allocation per request): empty when the listener has no filters.
  std::optional<FilterChain> filters_;
  // The upstream side, once the route picked a cluster.
  std::optional<Router> router_;
  // Body and tunnel bytes that arrived before the router exists (filters still deciding).
  buffer::Buffer early_body_;
  buffer::Buffer early_tunnel_;
  buffer::Buffer batch_;
  Phase phase_ = Phase::Request;
  bool batching_ = false;
  bool batch_pending_ = false;  // writeDownstream() was called while batching
  bool counted_ = false;        // countCompletion() or leaveActive() ran
  bool request_complete_ = false;
  bool overloaded_ = false;  // a filter's controller was overloaded (no hedges)
  bool request_has_body_ = false;  // content-length > 0, chunked, or an upgrade
  bool head_request_ = false;
  bool tunnel_ = false;
  bool early_paused_ = false;  // early_body_ outgrew its limit: the downstream is paused
  uint32_t downstream_read_disables_ = 0;
  MonotonicTime start_;
  std::string flags_;
  uint16_t response_status_ = 0;
  // Access log (access_log_emit.cc): body bytes each way.
  uint64_t bytes_received_ = 0;
  uint64_t bytes_sent_ = 0;
  bool access_logged_ = false;
};

}  // namespace strait::http
