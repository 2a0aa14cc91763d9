#pragma once

// One request's life on an HTTP/1.1 or HTTP/2 connection (docs/life-of-a-request.md): headers in ->
// normalisation (hop-by-hop, x-forwarded-*, x-request-id) -> route match -> direct response,
// redirect, or an upstream attempt (pool -> encode -> stream the body both ways with
// backpressure) -> response out -> stats. Every failure edge ends in a local reply with a
// status, a short text body and a response flag, or, once the response has started, in a reset
// of the downstream connection.

#include <optional>
#include <string>
#include <string_view>

#include "proxy/http/downstream_stream.h"
#include "proxy/http/filter_chain.h"
#include "proxy/upstream/retry_state.h"
#include "proxy/server/worker_context.h"
#include "proxy/upstream/conn_pool.h"
#include "strait/http/http1_codec.h"

namespace strait::http {

class ActiveStream : public upstream::PoolCallbacks,
                     public upstream::UpstreamStreamCallbacks,
                     public upstream::RequestSlotWaiter,
                     public FilterChainOwner,
                     public event::DeferredDeletable {
 public:
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
  bool responseStarted() const { return response_started_; }
  bool tunnelling() const { return tunnel_; }
  const std::string& responseFlags() const { return flags_; }
  // Writes this stream's access log line (once; later calls do nothing). Called by the
  // connection manager when the stream completes, is reset, or its connection closes under it.
  // Defined in access_log_emit.cc.
  void emitAccessLog();

  // upstream::PoolCallbacks
  void onPoolReady(upstream::UpstreamClient& client) override;
  void onPoolFailure(upstream::UpstreamFailure failure, std::string_view detail) override;

  // upstream::RequestSlotWaiter: a max_requests slot came free while this request was queued.
  void onRequestSlotGranted() override;

  // upstream::UpstreamStreamCallbacks
  void onUpstreamHeaders(ResponseHeaders& headers, const http1::MessageInfo& info) override;
  void onUpstreamData(const char* data, size_t len) override;
  void onUpstreamTrailers(HeaderMap& trailers) override { downstream_.encodeTrailers(trailers); }
  void onUpstreamComplete() override;
  void onUpstreamTunnelData(const char* data, size_t len) override;
  void onUpstreamError(upstream::UpstreamFailure failure, std::string_view detail) override;
  void onUpstreamReadBegin() override { batching_ = true; }
  void onUpstreamReadEnd() override { flushBatch(); }
  void onUpstreamWriteBufferHigh() override;
  void onUpstreamWriteBufferLow() override;

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

 private:
  void normaliseRequest(RequestHeaders& headers);
  void applyRoute();
  void startUpstream();
  bool scheduleRetry(const upstream::AttemptResult& result);
  void sendLocalReply(uint16_t status, std::string_view body, std::string_view flag,
                      bool overloaded = false, const std::vector<HeaderEntry>* extra = nullptr);
  // Response body from the upstream: through the filters (if any), then onEncodedData().
  void encodeBody(buffer::Buffer& data, bool end_stream);
  // The whole response has been written downstream: finish the stream.
  void onResponseWritten();
  void destroyFilters();
  // Feeds the cluster's outlier detector (if any) with the current attempt's result.
  enum class OutlierResult { Status, ConnectFailure, Reset, Timeout };
  void reportOutlier(OutlierResult result, uint16_t status);
  // Gives back the cluster's per-process max_requests slot (once), or leaves the pending queue.
  void releaseRequestSlot();
  // Takes a max_requests slot for the request, queues it, or answers 503. False: not now (queued
  // or answered).
  bool admitRequest();
  void onQueueTimeout();
  // `holdable`: an upstream response head, which a filter may hold (FilterChain::encodeHeaders);
  // local replies and direct responses are written at once.
  void encodeResponseHeaders(ResponseHeaders& headers, bool end_stream, bool holdable = false);
  // The head past the filters, to the codec.
  void writeResponseHeaders(ResponseHeaders& headers, bool end_stream);
  void finish();
  void releaseUpstream(bool reset);
  void stopRouteTimer();
  // Response bytes go through here: held while an upstream read is being processed, written
  // downstream when it ends (or before the stream finishes).
  void writeDownstream(buffer::Buffer& data);
  void flushBatch();
  void disableDownstreamRead(bool disable);
  void addFlag(std::string_view flag);

  DownstreamStream& downstream_;
  server::WorkerContext& worker_;
  server::SnapshotSharedPtr snapshot_;  // the config this stream started with
  const server::ListenerRuntime& listener_;
  RequestHeaders* request_ = nullptr;   // the codec's; valid until the stream ends
  http1::MessageInfo request_info_;
  const router::RouteEntry* route_ = nullptr;
  const server::RouteStats* route_stats_ = nullptr;
  upstream::WorkerCluster* cluster_ = nullptr;
  upstream::PendingRequest* pending_ = nullptr;
  upstream::UpstreamClient* client_ = nullptr;
  const upstream::Host* last_host_ = nullptr;
  // Held in place (no allocation per request): empty when the listener has no filters.
  std::optional<FilterChain> filters_;
  buffer::Buffer request_body_;  // body bytes that arrived before an upstream was attached
  buffer::Buffer tunnel_pending_;
  buffer::Buffer batch_;
  bool batching_ = false;
  bool batch_pending_ = false;  // writeDownstream() was called while batching
  bool route_timer_armed_ = false;
  MonotonicTime start_;
  MonotonicTime upstream_start_;
  std::string flags_;
  uint16_t response_status_ = 0;
  uint32_t attempts_ = 0;
  bool request_complete_ = false;
  bool request_has_body_ = false;  // content-length > 0, chunked, or an upgrade
  bool body_sent_upstream_ = false;
  bool response_started_ = false;
  bool response_complete_ = false;  // the response's last byte went to the codec
  bool upstream_done_ = false;      // the upstream response ended (its connection released)
  bool upstream_response_ = false;  // the response came from an upstream (cluster stats)
  bool head_request_ = false;
  bool tunnel_ = false;
  bool finished_ = false;
  uint32_t downstream_read_disables_ = 0;
  bool upstream_read_disabled_ = false;
  bool filter_upstream_read_disabled_ = false;
  bool holds_request_slot_ = false;
  upstream::SlotTicketPtr slot_ticket_;  // waiting in the cluster's pending queue
  event::TimerPtr queue_timer_;          // circuit_breakers.queue_timeout while queued
  std::optional<upstream::RetryState> retry_;  // routes with a retry policy only
  event::TimerPtr retry_timer_;                  // backoff before the next attempt
  bool try_timer_armed_ = false;  // the per-try timer (StreamTimers::perTry()) is ours now
  buffer::Buffer replay_body_;  // the request body so far, while it fits retry.max_body_bytes
  bool replay_ok_ = false;      // replay_body_ holds the whole body so far
  // Access log (access_log_emit.cc): body bytes each way, and when the upstream answered.
  uint64_t bytes_received_ = 0;
  uint64_t bytes_sent_ = 0;
  MonotonicTime upstream_headers_at_{};
  bool access_logged_ = false;
};

}  // namespace strait::http
