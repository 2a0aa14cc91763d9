#pragma once

// The upstream half of one routed stream (docs/life-of-a-request.md): the route's rewrites, the
// cluster's circuit breaker (one max_requests slot for the whole request, or a wait in the
// pending queue), the attempts (one UpstreamRequest each: host choice, connection, exchange),
// the retry policy between them, the request body kept once for replay, the per-try and route
// timeouts, and which attempt's response goes downstream. It speaks to its stream only through
// RouterCallbacks and to its cluster only through upstream::ThreadLocalCluster, so its unit
// tests (tests/unit/http/router_test.cc) drive it over fake pools and a simulated clock.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "proxy/http/upstream_request.h"
#include "proxy/upstream/hedge_controller.h"
#include "proxy/upstream/resource_manager.h"
#include "proxy/upstream/retry_state.h"
#include "strait/http/router_callbacks.h"
#include "strait/router/route_table.h"
#include "strait/upstream/conn_pool.h"

namespace strait::http {

class Router final : public upstream::RequestSlotWaiter {
 public:
  enum class State : uint8_t {
    Idle,        // start() not called yet
    Queued,      // waiting in the cluster's pending queue for a max_requests slot
    Attempting,  // an attempt is in flight (connecting, sending, or awaiting its response)
    Backoff,     // an attempt failed; the next starts when the backoff timer fires
    Responding,  // an attempt's response head went downstream: no more attempts
    Done,        // the response ended, or the router gave up (local reply or reset)
  };

  // `route` must have a route action; `cluster` is the one it picked. `info`: the request's
  // framing as the downstream codec parsed it. `hedge`: the route's hedging state when its
  // action has a `hedge` policy (the listener runtime's RouteStats). All outlive the router.
  Router(RouterCallbacks& callbacks, const router::RouteEntry& route,
         upstream::ThreadLocalCluster& cluster, const http1::MessageInfo& info,
         upstream::HedgeController* hedge = nullptr);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // The request head is complete (and `request_complete` when it has no body, or all of it
  // came already): applies the route's rewrites, arms the route timeout, takes a request slot
  // and starts the first attempt (or answers through the callbacks). `early_body` and
  // `early_tunnel`: what the stream received while its filters decided (moved from).
  void start(bool request_complete, buffer::Buffer& early_body, buffer::Buffer& early_tunnel);
  // Request body bytes, in order; the end of the request; raw bytes after an upgrade.
  void decodeData(const char* data, size_t len);
  void decodeComplete();
  void decodeTunnelData(const char* data, size_t len);

  // Starts one more attempt (on another host when there is one) while those already started
  // are still waiting for a response head: the first head to arrive wins and the others are
  // reset; a failure of one attempt while another is in flight only ends that one. The
  // mechanism the route `hedge` policy drives (onHedgeTimer()). False (nothing started)
  // unless the router is attempting, a host could be picked, and the request has no body or
  // keeps it for replay (each attempt sends the whole body from the kept copy).
  bool startParallelAttempt();
  // The stream's timers (RouterCallbacks::routerRouteTimer(), routerPerTryTimer()) fired.
  void onRouteTimeout();
  void onPerTryTimeout();
  // The downstream's write buffer crossed its high or low mark: pause or resume the response.
  void onDownstreamWriteHigh();
  void onDownstreamWriteLow();
  // A filter paces the response (FilterChainOwner::onFilterUpstreamReadDisabled()).
  void setFilterPaused(bool paused);
  // The stream is done with the upstream side (it answered locally, was reset, or finished):
  // resets every attempt in flight, leaves the pending queue, stops the timers. Idempotent.
  void reset();
  // The stream is being destroyed, after its downstream side let go of it (the stream's timers
  // are disabled, its reading no longer matters): reset() without touching either.
  void abandon();

  State state() const { return state_; }
  const upstream::ClusterInfo& clusterInfo() const { return info_; }
  // For the access log: attempts started, the host of the latest one, and, for the attempt
  // whose response went downstream, when it started and when its head arrived.
  uint32_t attempts() const { return attempts_; }
  // The number of the attempt whose response went downstream (1: the first), 0 before one did.
  uint32_t winningAttempt() const { return winning_attempt_; }
  const upstream::Host* lastHost() const { return last_host_; }
  bool upstreamResponded() const { return responded_at_.has_value(); }
  MonotonicTime attemptStartedAt() const { return winner_started_at_; }
  MonotonicTime responseHeadersAt() const { return responded_at_.value_or(MonotonicTime{}); }
  // What every attempt together cost: request body bytes handed to the exchanges (a replayed
  // body counts once per attempt) and response body bytes they delivered (a discarded response
  // is not read). What a hedge or a retry adds to the upstream's load.
  uint64_t upstreamBytesSent() const;
  uint64_t upstreamBytesReceived() const;

  // upstream::RequestSlotWaiter: a max_requests slot came free while this request was queued.
  void onRequestSlotGranted() override;

  // ---- from its attempts (UpstreamRequest)
  void onAttemptReady(UpstreamRequest& attempt);
  void onAttemptPoolFailure(UpstreamRequest& attempt, upstream::UpstreamFailure failure,
                            std::string_view detail);
  void onAttemptHeaders(UpstreamRequest& attempt, ResponseHeaders& headers,
                        const http1::MessageInfo& info);
  void onAttemptData(UpstreamRequest& attempt, const char* data, size_t len);
  void onAttemptTrailers(UpstreamRequest& attempt, HeaderMap& trailers);
  void onAttemptComplete(UpstreamRequest& attempt);
  void onAttemptTunnelData(UpstreamRequest& attempt, const char* data, size_t len);
  void onAttemptError(UpstreamRequest& attempt, upstream::UpstreamFailure failure,
                      std::string_view detail);
  void onAttemptReadBegin(UpstreamRequest& attempt);
  void onAttemptReadEnd(UpstreamRequest& attempt);
  void onAttemptWriteBufferHigh(UpstreamRequest& attempt);
  void onAttemptWriteBufferLow(UpstreamRequest& attempt);

  RouterCallbacks& callbacks() { return callbacks_; }
  upstream::ThreadLocalCluster& cluster() { return cluster_; }
  // The stream's context, asked once (RouterCallbacks::routerDispatcher(), routerShard()).
  event::Dispatcher& dispatcher() { return dispatcher_; }
  stats::Shard& shard() { return shard_; }

 private:
  // Takes a max_requests slot, queues, or answers 503. False: not now (queued or answered).
  bool admitRequest();
  void onQueueTimeout();
  void leaveQueue();
  void releaseRequestSlot();
  // Picks a host and starts an attempt on it (or answers 503 UH).
  void startAttempt();
  // A failed attempt: retry it after the backoff when the policy allows. False: give up.
  bool scheduleRetry(const upstream::AttemptResult& result);
  // A new attempt on `pool`, kept until the router goes (an attempt may be released inside
  // its own callbacks, so none is destroyed before its stream is).
  UpstreamRequest& addAttempt(upstream::ConnPool& pool);
  // Another attempt than `attempt` is not released yet.
  bool othersLive(const UpstreamRequest& attempt);
  // Calls `f` on every attempt not released yet.
  template <typename F>
  void forEachLive(F&& f);
  // Every attempt not released yet, released (`reset`: given up).
  void releaseAttempts(bool reset);
  // The response attempt's: the one whose response goes downstream.
  bool isWinner(const UpstreamRequest& attempt) const { return winner_ == &attempt; }
  // A new attempt's per_try_timeout deadline (when the route has one), and the stream's one
  // per-try timer armed for the earliest deadline of the live attempts (or stopped).
  void startPerTry(UpstreamRequest& attempt);
  void armPerTryTimer();
  // No attempt's per-try deadline counts any more (a response is on its way, or none is live).
  void stopPerTryTimer();
  void stopRouteTimer();
  // Gives up before any response: every attempt reset, the stream answers `reply`.
  void fail(const RouterCallbacks::LocalReply& reply);
  void finish();
  // Stops or resumes reading the request body downstream for the pre-attach buffer limit.
  void pauseDownstream(bool pause);
  // Whether the request body is kept for replay: a retry or a hedge may still need it, and it
  // fits their max_body_bytes.
  bool keepsBody() const;
  // ---- hedging (route `hedge`; upstream/hedge_controller.h has the policy's state)
  // The request may be hedged: the route has a policy, the method may be replayed (or the policy
  // says non_idempotent), no upgrade, and a declared body fits max_body_bytes.
  bool hedgeEligible() const;
  // Arms the stream's hedge timer for the next hedge when another attempt is allowed.
  void armHedgeTimer();
  void armHedgeTimerFor(std::chrono::microseconds wait);
  void onHedgeTimer();
  // No more hedges for this request (a response won, the body outgrew the buffer, the end).
  void stopHedging();
  // The cluster or the listener is overloaded now: a hedge would add to it.
  bool overloaded() const;
  // A hedged request's first attempt answered after `latency`, or was cancelled after it.
  void recordFirstAttemptLatency(MonotonicTime until);

  RouterCallbacks& callbacks_;
  const router::RouteEntry& route_;
  const config::RouteAction& action_;
  upstream::ThreadLocalCluster& cluster_;
  const upstream::ClusterInfo& info_;  // cluster_'s, fixed for its life
  event::Dispatcher& dispatcher_;
  stats::Shard& shard_;
  const http1::MessageInfo& request_info_;
  State state_ = State::Idle;
  // The request's attempts: the first held in place (no allocation for a request that is not
  // retried), later ones on the heap. Retries run one after another; startParallelAttempt()
  // runs several at once, and the first response head wins (winner_), the others are reset.
  std::optional<UpstreamRequest> first_;
  std::vector<UpstreamRequestPtr> more_;
  UpstreamRequest* winner_ = nullptr;
  const upstream::Host* last_host_ = nullptr;
  uint32_t attempts_ = 0;
  std::optional<upstream::RetryState> retry_;  // routes with a retry policy only
  event::TimerPtr retry_timer_;                // backoff before the next attempt
  upstream::SlotTicketPtr slot_ticket_;        // waiting in the cluster's pending queue
  event::TimerPtr queue_timer_;                // circuit_breakers.queue_timeout while queued
  // The request body, kept once: while no attempt is attached, the bytes not sent yet; while a
  // retry could replay it (`replay_`), the whole body so far.
  buffer::Buffer body_;
  buffer::Buffer tunnel_pending_;  // upgrade bytes before the upstream's 101
  bool replay_ = false;
  bool body_sent_ = false;  // some attempt sent body bytes upstream
  bool request_complete_ = false;
  bool holds_request_slot_ = false;
  bool route_timer_armed_ = false;
  bool per_try_timer_armed_ = false;
  bool downstream_paused_ = false;  // by the pre-attach buffer limit
  bool downstream_full_ = false;    // the downstream's write buffer is over its high mark
  bool filter_paused_ = false;
  bool tunnel_ = false;
  MonotonicTime winner_started_at_{};
  std::optional<MonotonicTime> responded_at_;
  uint32_t winning_attempt_ = 0;
  // Hedging: the route's state (null without a policy), whether this request still hedges, the
  // delay before each hedge, the hedges started and the retry-budget tokens they hold (given
  // back when the request ends).
  upstream::HedgeController* hedge_ = nullptr;
  bool hedging_ = false;
  bool first_latency_recorded_ = false;
  std::chrono::microseconds hedge_delay_{0};
  MonotonicTime hedge_due_{};  // when the next hedge is due
  event::TimerPtr hedge_timer_;
  uint32_t hedges_ = 0;
  uint32_t hedge_tokens_ = 0;
};

template <typename F>
void Router::forEachLive(F&& f) {
  if (first_.has_value() && first_->live()) {
    f(*first_);
  }
  // By index: `f` may start an attempt (a push_back) or release one.
  for (size_t i = 0; i < more_.size(); i++) {
    if (more_[i]->live()) {
      f(*more_[i]);
    }
  }
}

}  // namespace strait::http
