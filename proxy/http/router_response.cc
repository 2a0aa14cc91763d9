// The response half of the router: which attempt's response goes downstream, the route's
// response headers, upstream failures once a response started, backpressure, and the end.

#include "proxy/http/router.h"

#include <cmath>
#include <cstdlib>

#include "proxy/http/router_internal.h"
#include "proxy/upstream/cluster.h"

namespace strait::http {

using upstream::UpstreamFailure;
using LocalReply = RouterCallbacks::LocalReply;

// ---- response path --------------------------------------------------------------------------

void Router::onAttemptHeaders(UpstreamRequest& attempt, ResponseHeaders& headers,
                              const http1::MessageInfo& info) {
  attempt.reportOutlier(UpstreamRequest::OutlierResult::Status, headers.status);
  if (info_.locality_tier != nullptr) {
    std::optional<double> energy_wh;
    const std::string& energy_header = info_.locality_tier->config().energy_header;
    if (!energy_header.empty()) {
      if (const std::string* value = headers.headers.get(energy_header)) {
        char* end = nullptr;
        const double wh = std::strtod(value->c_str(), &end);
        if (end != value->c_str() && *end == '\0' && std::isfinite(wh)) {
          energy_wh = wh;
        }
      }
    }
    cluster_.onHostResult(attempt.host(),
                          std::chrono::duration_cast<std::chrono::microseconds>(
                              attempt.headersAt() - attempt.startedAt()),
                          headers.status < 500, energy_wh);
  }
  if (winner_ != nullptr) {
    attempt.release(true);  // another attempt answered first
    return;
  }
  if (first_.has_value() && &attempt == &*first_) {
    recordFirstAttemptLatency(attempt.headersAt());
  }
  if (hedges_ > 0 && headers.status >= 500 && othersLive(attempt)) {
    // A hedged request: a 5xx does not win over an attempt still pending. This exchange is
    // reset (its body not read); the others may still answer.
    attempt.host().requestFailed();
    attempt.discardResponse();
    armPerTryTimer();
    return;
  }
  if (retry_.has_value() && headers.status >= 500 && request_complete_ && !othersLive(attempt) &&
      scheduleRetry(upstream::AttemptResult::response(headers.status))) {
    // Drop this response: the exchange is reset (its body is not read), the next attempt starts
    // after the backoff.
    attempt.discardResponse();
    armPerTryTimer();
    return;
  }
  if (headers.status >= 500) {
    attempt.host().requestFailed();
  }
  winner_ = &attempt;
  winning_attempt_ = attempt.number();
  state_ = State::Responding;
  winner_started_at_ = attempt.startedAt();
  responded_at_ = attempt.headersAt();
  stopPerTryTimer();
  stopHedging();
  if (attempt.hedge()) {
    shard_.inc(info_.stats.hedges_won);
    callbacks_.onRouterFlag("HD");
  }
  forEachLive([&](UpstreamRequest& other) {
    if (&other != &attempt) {
      if (first_.has_value() && &other == &*first_) {
        // Its latency is at least what it waited: the tail the hedge cut stays in the histogram.
        recordFirstAttemptLatency(dispatcher_.approximateMonotonicTime());
      }
      if (hedges_ > 0) {
        shard_.inc(info_.stats.hedges_cancelled);
      }
      other.release(true);  // cancelled: not an outlier result, not a failure of its host
    }
  });
  const config::Route& route = route_.route();
  for (const auto& name : route.response_headers_to_remove) {
    headers.headers.remove(name);
  }
  router_detail::applyHeaderValues(headers.headers, route_.virtualHost().response_headers_to_add);
  router_detail::applyHeaderValues(headers.headers, route.response_headers_to_add);
  bool upgraded = headers.status == 101 && request_info_.upgrade;
  if (upgraded) {
    tunnel_ = true;
    stopRouteTimer();  // a tunnel lives as long as its peers keep it
  }
  callbacks_.onRouterResponseHeaders(headers, info);
  if (upgraded && state_ == State::Responding && attempt.attached() &&
      !tunnel_pending_.empty()) {
    attempt.writeTunnel(tunnel_pending_);
  }
}

void Router::onAttemptData(UpstreamRequest& attempt, const char* data, size_t len) {
  if (isWinner(attempt)) {
    callbacks_.onRouterResponseData(data, len);
  }
}

void Router::onAttemptTrailers(UpstreamRequest& attempt, HeaderMap& trailers) {
  if (isWinner(attempt)) {
    callbacks_.onRouterResponseTrailers(trailers);
  }
}

void Router::onAttemptComplete(UpstreamRequest& attempt) {
  if (!isWinner(attempt) || tunnel_) {
    return;  // (a tunnel: the 101's head is complete; the tunnel runs until a side closes)
  }
  // The upstream is done: the route timeout no longer applies, even if a filter still paces the
  // last bytes out (response_rate_limit).
  attempt.release(false);
  finish();
  callbacks_.onRouterResponseComplete();
}

void Router::onAttemptTunnelData(UpstreamRequest& attempt, const char* data, size_t len) {
  if (isWinner(attempt)) {
    callbacks_.onRouterTunnelData(data, len);
  }
}

void Router::onAttemptError(UpstreamRequest& attempt, UpstreamFailure failure,
                            std::string_view detail) {
  if (state_ == State::Done) {
    return;
  }
  armPerTryTimer();  // (the attempt is released: its deadline no longer counts)
  stats::Shard& shard = shard_;
  const upstream::ClusterInfo& info = info_;
  if (winner_ == nullptr) {
    // A reused keep-alive connection that the upstream closed just as we sent on it: the
    // request never reached the application, so trying once more on a fresh connection is safe.
    uint32_t retries = action_.retry.has_value() ? action_.retry->attempts : 0;
    if (failure == UpstreamFailure::Reset && attempt.reused() && !body_sent_ &&
        attempts_ < 2 + retries) {
      shard.inc(info.stats.rq_retry);
      last_host_ = nullptr;
      startAttempt();
      return;
    }
    attempt.reportOutlier(UpstreamRequest::OutlierResult::Reset);
    if (info_.locality_tier != nullptr) {
      cluster_.onHostResult(attempt.host(), std::nullopt, false, std::nullopt);
    }
    if (othersLive(attempt)) {
      return;  // another attempt is in flight: it may still answer
    }
    if (scheduleRetry(upstream::AttemptResult::reset())) {
      return;
    }
    shard.inc(info.stats.rq_reset);
    std::string body = (failure == UpstreamFailure::ProtocolError
                            ? "upstream protocol error: "
                            : "upstream reset before response: ") +
                       std::string(detail);
    fail({failure == UpstreamFailure::ProtocolError ? uint16_t{502} : uint16_t{503}, body,
          failure == UpstreamFailure::ProtocolError ? "UPE" : "UR"});
    return;
  }
  if (!isWinner(attempt)) {
    return;  // a losing attempt's failure changes nothing
  }
  releaseAttempts(true);
  finish();
  if (tunnel_) {
    callbacks_.onRouterTunnelClosed();  // one side of the tunnel closed: close the other
    return;
  }
  shard.inc(info.stats.rq_reset);
  // The response is half out: the only honest signal left is to cut the stream.
  callbacks_.onRouterResponseReset("UR");
}

void Router::onAttemptReadBegin(UpstreamRequest& attempt) {
  if (isWinner(attempt) || winner_ == nullptr) {
    callbacks_.onRouterReadBegin();
  }
}

void Router::onAttemptReadEnd(UpstreamRequest& attempt) {
  if (isWinner(attempt) || winner_ == nullptr) {
    callbacks_.onRouterReadEnd();
  }
}

void Router::onAttemptWriteBufferHigh(UpstreamRequest&) {
  callbacks_.routerDownstreamReadDisable(true);
}

void Router::onAttemptWriteBufferLow(UpstreamRequest&) {
  callbacks_.routerDownstreamReadDisable(false);
}

void Router::onDownstreamWriteHigh() {
  downstream_full_ = true;
  forEachLive([](UpstreamRequest& attempt) {
    attempt.setPaused(UpstreamRequest::Pause::DownstreamFull, true);
  });
}

void Router::onDownstreamWriteLow() {
  downstream_full_ = false;
  forEachLive([](UpstreamRequest& attempt) {
    attempt.setPaused(UpstreamRequest::Pause::DownstreamFull, false);
  });
}

void Router::setFilterPaused(bool paused) {
  filter_paused_ = paused;
  forEachLive([&](UpstreamRequest& attempt) {
    attempt.setPaused(UpstreamRequest::Pause::Filter, paused);
  });
}

// ---- the end --------------------------------------------------------------------------------

void Router::stopPerTryTimer() {
  forEachLive([](UpstreamRequest& attempt) { attempt.clearPerTryDeadline(); });
  if (per_try_timer_armed_) {
    per_try_timer_armed_ = false;
    callbacks_.routerPerTryTimer().disableTimer();
  }
}

void Router::stopRouteTimer() {
  if (route_timer_armed_) {
    route_timer_armed_ = false;
    callbacks_.routerRouteTimer().disableTimer();
  }
}

void Router::fail(const LocalReply& reply) {
  releaseAttempts(true);
  finish();
  callbacks_.onRouterLocalReply(reply);
}

void Router::finish() {
  state_ = State::Done;
  stopPerTryTimer();
  stopRouteTimer();
  stopHedging();
  for (; hedge_tokens_ > 0; hedge_tokens_--) {
    info_.resources->releaseRetry();
  }
  if (retry_timer_ != nullptr) {
    retry_timer_->disableTimer();
  }
  releaseRequestSlot();
  if (retry_.has_value()) {
    retry_->onRequestDone();
  }
  pauseDownstream(false);
}

void Router::abandon() {
  route_timer_armed_ = false;
  per_try_timer_armed_ = false;
  downstream_paused_ = false;
  reset();
}

void Router::reset() {
  // Done: every attempt was released on the way there (fail(), onAttemptComplete() and the
  // response-time failures release all before finish(); a winner releases the others at once).
  if (state_ != State::Done) {
    releaseAttempts(true);
    finish();
  }
}

}  // namespace strait::http
