#pragma once

// One upstream attempt of a routed request: the wait for a pool, the exchange with one host,
// and what that exchange is accounted as (the host's and the cluster's in-flight counts, the
// host's request counters, the cluster's response classes and times, the outlier detector's
// verdicts). Each attempt is its own callbacks target, so whatever a pool or an exchange
// reports names the attempt it belongs to; the Router (router.h) owns its attempts and decides
// what their results mean for the stream.

#include <cstdint>
#include <memory>
#include <string_view>

#include "strait/buffer/buffer.h"
#include "strait/common/time.h"
#include "strait/http/header_map.h"
#include "strait/http/http1_codec.h"
#include "strait/upstream/conn_pool.h"

namespace strait::http {

class Router;

// UpstreamStreamCallbacks first: an exchange calls it several times per response (head, body,
// reads), the pool once; the first base's calls need no thunk.
class UpstreamRequest final : public upstream::UpstreamStreamCallbacks,
                              public upstream::PoolCallbacks {
 public:
  enum class State : uint8_t {
    Connecting,        // waiting for the pool (a connection, or a stream on one)
    AwaitingResponse,  // the request (or its start) went out; no response head yet
    Responding,        // the response head arrived
    Complete,          // the response ended: the exchange went back to its pool
    Released,          // given up (reset, cancelled) or failed
  };
  enum class OutlierResult : uint8_t { Status, ConnectFailure, Reset, Timeout };

  UpstreamRequest(Router& router, upstream::ConnPool& pool, uint32_t number);
  ~UpstreamRequest() override;
  UpstreamRequest(const UpstreamRequest&) = delete;
  UpstreamRequest& operator=(const UpstreamRequest&) = delete;

  // Asks the pool for an exchange: onPoolReady() or onPoolFailure(), now or later.
  void start();
  State state() const { return state_; }
  // Not released yet: waiting for a pool, or exchanging with the host.
  bool live() const { return state_ < State::Complete; }
  bool attached() const { return client_ != nullptr; }
  // 1 for the first attempt of the request.
  uint32_t number() const { return number_; }
  // A hedge: started while an earlier attempt was still in flight (route `hedge`).
  void markHedge() { hedge_ = true; }
  bool hedge() const { return hedge_; }
  upstream::Host& host() { return host_; }
  const upstream::Host& host() const { return host_; }
  MonotonicTime startedAt() const { return started_at_; }
  MonotonicTime headersAt() const { return headers_at_; }
  // Request body bytes handed to the exchange, response body bytes it delivered.
  uint64_t bytesSent() const { return bytes_sent_; }
  uint64_t bytesReceived() const { return bytes_received_; }
  // The attempt's per_try_timeout deadline; the router runs one timer for the earliest deadline
  // of its live attempts.
  void setPerTryDeadline(MonotonicTime at) {
    per_try_deadline_ = at;
    has_per_try_deadline_ = true;
  }
  void clearPerTryDeadline() { has_per_try_deadline_ = false; }
  bool hasPerTryDeadline() const { return has_per_try_deadline_ && live(); }
  MonotonicTime perTryDeadline() const { return per_try_deadline_; }
  // The exchange is on a kept-alive connection that carried requests before (see
  // UpstreamClient::reused()).
  bool reused() const { return reused_; }

  // ---- towards the host (attached only)
  void encodeHeaders(const RequestHeaders& headers, const http1::MessageInfo& info);
  void encodeData(buffer::Buffer& data, bool end_stream);
  void writeTunnel(buffer::Buffer& data);
  // Pauses or resumes reading the response, for the downstream's write buffer or a filter.
  // Each reason counts once, whichever way it is set repeatedly.
  enum class Pause : uint8_t { DownstreamFull = 1, Filter = 2 };
  void setPaused(Pause reason, bool paused);

  // Ends the attempt: `reset` gives the exchange up (cancels the pool wait or resets the
  // stream); otherwise its connection goes back to the pool. Counts the attempt's response class
  // and time with the cluster when it had a response. Idempotent.
  void release(bool reset);
  // A response head arrived that the router will not forward (a retried 5xx): reset the
  // exchange without counting its response with the cluster.
  void discardResponse();
  // Feeds the cluster's outlier detector (when it has one) with this attempt's result.
  void reportOutlier(OutlierResult result, uint16_t status = 0);

  // upstream::PoolCallbacks
  void onPoolReady(upstream::UpstreamClient& client) override;
  void onPoolFailure(upstream::UpstreamFailure failure, std::string_view detail) override;

  // upstream::UpstreamStreamCallbacks
  void onUpstreamHeaders(ResponseHeaders& headers, const http1::MessageInfo& info) override;
  void onUpstreamData(const char* data, size_t len) override;
  void onUpstreamTrailers(HeaderMap& trailers) override;
  void onUpstreamComplete() override;
  void onUpstreamTunnelData(const char* data, size_t len) override;
  void onUpstreamError(upstream::UpstreamFailure failure, std::string_view detail) override;
  void onUpstreamReadBegin() override;
  void onUpstreamReadEnd() override;
  void onUpstreamWriteBufferHigh() override;
  void onUpstreamWriteBufferLow() override;

 private:
  Router& router_;
  upstream::ConnPool& pool_;
  upstream::Host& host_;
  upstream::PendingRequest* pending_ = nullptr;
  upstream::UpstreamClient* client_ = nullptr;
  const uint32_t number_;
  State state_ = State::Connecting;
  uint8_t paused_ = 0;  // Pause bits set
  bool reused_ = false;
  bool hedge_ = false;
  bool has_per_try_deadline_ = false;
  uint16_t status_ = 0;  // the response's, once its head arrived
  MonotonicTime started_at_{};
  MonotonicTime headers_at_{};
  MonotonicTime per_try_deadline_{};
  uint64_t bytes_sent_ = 0;
  uint64_t bytes_received_ = 0;
};

using UpstreamRequestPtr = std::unique_ptr<UpstreamRequest>;

}  // namespace strait::http
