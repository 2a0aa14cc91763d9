#include "proxy/http/router.h"

#include "proxy/http/router_internal.h"
#include "proxy/upstream/cluster.h"

namespace strait::http {

namespace {

using upstream::UpstreamFailure;
using LocalReply = RouterCallbacks::LocalReply;

// Request bodies buffered while no attempt is attached beyond this pause the downstream: a slow
// connect or a retry backoff never makes the proxy hold an unbounded upload.
constexpr size_t kMaxBufferedRequestBody = 1024 * 1024;

// The value of cookie `name` in the request's cookie headers (HTTP/2 may split them), or empty.
std::string_view cookieValue(const HeaderMap& headers, std::string_view name) {
  for (const HeaderEntry& entry : headers) {
    if (entry.name != "cookie") {
      continue;
    }
    std::string_view rest = entry.value;
    while (!rest.empty()) {
      size_t end = rest.find(';');
      std::string_view pair = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      while (!pair.empty() && pair.front() == ' ') {
        pair.remove_prefix(1);
      }
      if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=') {
        return pair.substr(name.size() + 1);
      }
    }
  }
  return {};
}

// The ring_hash key of a request: the first of the route's hash policies that yields a non-empty
// value. False when none does; the balancer then picks at random. Allocates nothing.
bool requestHash(const std::vector<config::HashPolicy>& policies, const HeaderMap& headers,
                 std::string_view peer, uint64_t& hash) {
  for (const config::HashPolicy& policy : policies) {
    std::string_view value;
    if (policy.kind == config::HashPolicy::Kind::Header) {
      const std::string* header = headers.get(policy.name);
      value = header != nullptr ? std::string_view(*header) : std::string_view();
    } else if (policy.kind == config::HashPolicy::Kind::SourceIp) {
      value = peer;
    } else {
      value = cookieValue(headers, policy.name);
    }
    if (!value.empty()) {
      hash = upstream::hashKey(value);
      return true;
    }
  }
  return false;
}

bool hasBody(const http1::MessageInfo& info) {
  return info.chunked || (info.content_length.has_value() && *info.content_length > 0);
}

}  // namespace

Router::Router(RouterCallbacks& callbacks, const router::RouteEntry& route,
               upstream::ThreadLocalCluster& cluster, const http1::MessageInfo& info,
               upstream::HedgeController* hedge)
    : callbacks_(callbacks),
      route_(route),
      action_(*route.route().route),
      cluster_(cluster),
      info_(cluster.info()),
      dispatcher_(callbacks.routerDispatcher()),
      shard_(callbacks.routerShard()),
      request_info_(info),
      hedge_(route.route().route->hedge.has_value() ? hedge : nullptr) {
  cluster_.addStream();  // held until the router goes (see ThreadLocalCluster::addStream())
}

Router::~Router() {
  reset();
  cluster_.removeStream();
}

// ---- request path ---------------------------------------------------------------------------

void Router::start(bool request_complete, buffer::Buffer& early_body,
                   buffer::Buffer& early_tunnel) {
  request_complete_ = request_complete;
  if (!early_body.empty()) {
    body_.move(early_body);
  }
  if (!early_tunnel.empty()) {
    tunnel_ = true;
    tunnel_pending_.move(early_tunnel);
  }
  RequestHeaders& request = callbacks_.routerRequest();
  const config::Route& route = route_.route();
  if (!action_.prefix_rewrite.empty()) {
    request.path = route_.rewritePath(request.path);
  }
  if (!action_.host_rewrite.empty()) {
    request.authority = action_.host_rewrite;
  }
  for (const auto& name : route.request_headers_to_remove) {
    request.headers.remove(name);
  }
  router_detail::applyHeaderValues(request.headers, route_.virtualHost().request_headers_to_add);
  router_detail::applyHeaderValues(request.headers, route.request_headers_to_add);
  event::Dispatcher& dispatcher = dispatcher_;
  if (action_.timeout.count() > 0) {
    callbacks_.routerRouteTimer().enableTimer(action_.timeout);
    route_timer_armed_ = true;
  }
  // A policy with `attempts: 0` still gives each attempt its per_try_timeout (RetryState never
  // retries it: enabled() is false, so no body is kept either).
  if (action_.retry.has_value()) {
    retry_.emplace(&*action_.retry, request.method, info_.resources.get(),
                   callbacks_.routerRandom(), dispatcher.approximateMonotonicTime(),
                   action_.timeout);
    if (!body_.empty()) {
      retry_->onBodyBuffered(body_.length());
    }
  }
  hedging_ = hedgeEligible();
  if (hedging_) {
    hedge_delay_ = hedge_->onRequest(dispatcher.approximateMonotonicTime(), shard_);
  }
  // Keep the request body for replay while a retry or a hedge may need it and it fits.
  replay_ = keepsBody();
  if (body_.length() > kMaxBufferedRequestBody) {
    pauseDownstream(true);
  }
  startAttempt();
}

void Router::decodeData(const char* data, size_t len) {
  if (state_ == State::Done) {
    return;
  }
  const bool kept = replay_;  // the chunk is in body_ already
  if (replay_) {
    body_.add(data, len);
    if (retry_.has_value()) {
      retry_->onBodyBuffered(body_.length());
    }
    replay_ = keepsBody();
  }
  bool sent = false;
  forEachLive([&](UpstreamRequest& attempt) {
    if (attempt.attached()) {
      buffer::Buffer chunk;
      chunk.add(data, len);
      body_sent_ = true;
      sent = true;
      attempt.encodeData(chunk, false);
    }
  });
  if (sent) {
    if (!replay_) {
      body_.clear();  // (the replay copy, when this chunk outgrew it)
    }
    return;
  }
  if (!kept) {
    body_.add(data, len);  // not sent yet: the next attempt to attach sends it
  }
  if (body_.length() > kMaxBufferedRequestBody && !downstream_paused_) {
    pauseDownstream(true);
  }
}

void Router::decodeComplete() {
  request_complete_ = true;
  if (tunnel_ || !hasBody(request_info_)) {
    return;
  }
  forEachLive([&](UpstreamRequest& attempt) {
    if (attempt.attached()) {
      buffer::Buffer empty;
      attempt.encodeData(empty, true);
    }
  });
}

void Router::decodeTunnelData(const char* data, size_t len) {
  tunnel_ = true;
  if (state_ == State::Responding && winner_ != nullptr && winner_->attached()) {
    buffer::Buffer chunk;
    chunk.add(data, len);
    winner_->writeTunnel(chunk);
    return;
  }
  tunnel_pending_.add(data, len);
}

bool Router::keepsBody() const {
  if (request_info_.upgrade) {
    return false;
  }
  const bool for_retry = retry_.has_value() && retry_->enabled();
  const bool for_hedge = hedging_ && body_.length() <= action_.hedge->max_body_bytes;
  return for_retry || for_hedge;
}

void Router::pauseDownstream(bool pause) {
  if (pause != downstream_paused_) {
    downstream_paused_ = pause;
    callbacks_.routerDownstreamReadDisable(pause);
  }
}

// ---- admission (circuit breaker, per process) ---------------------------------------------

// One max_requests slot for the whole request, retries included. Over the limit, the request
// waits in the cluster's pending queue (within max_pending_requests, up to queue_timeout) for a
// slot; the route timeout keeps running meanwhile.
bool Router::admitRequest() {
  const upstream::ClusterInfo& info = info_;
  stats::Shard& shard = shard_;
  event::Dispatcher& dispatcher = dispatcher_;
  using Admission = upstream::ResourceManager::Admission;
  switch (info.resources->admitRequest(dispatcher, *this, slot_ticket_)) {
    case Admission::Admitted:
      holds_request_slot_ = true;
      return true;
    case Admission::Queued:
      state_ = State::Queued;
      shard.inc(info.stats.rq_queued);
      if (queue_timer_ == nullptr) {
        queue_timer_ = dispatcher.createTimer([this]() { onQueueTimeout(); });
      }
      queue_timer_->enableTimer(info.config.circuit_breakers.queue_timeout);
      return false;
    case Admission::Overflow:
      shard.inc(info.stats.rq_overflow);
      fail({503, "upstream overflow: cluster max_requests reached", "UO", true, true});
      return false;
    case Admission::QueueFull:
      shard.inc(info.stats.rq_overflow);
      shard.inc(info.stats.rq_pending_overflow);
      fail({503,
            "upstream overflow: cluster max_requests reached and its pending queue "
            "(max_pending_requests) is full",
            "UO", true, true});
      return false;
  }
  return false;
}

void Router::onRequestSlotGranted() {
  slot_ticket_.reset();
  queue_timer_->disableTimer();
  holds_request_slot_ = true;
  if (state_ == State::Done) {
    releaseRequestSlot();  // (cannot happen: finishing leaves the queue; kept for safety)
    return;
  }
  startAttempt();
}

void Router::onQueueTimeout() {
  const upstream::ClusterInfo& info = info_;
  stats::Shard& shard = shard_;
  leaveQueue();
  shard.inc(info.stats.rq_overflow);
  shard.inc(info.stats.rq_queue_timeout);
  std::string body = "upstream overflow: no max_requests slot came free within the "
                     "queue_timeout of " +
                     std::to_string(info.config.circuit_breakers.queue_timeout.count()) + "ms";
  fail({503, body, "UO", true, true});
}

void Router::leaveQueue() {
  if (slot_ticket_ != nullptr) {
    info_.resources->cancelWait(slot_ticket_);
    slot_ticket_.reset();
    queue_timer_->disableTimer();  // (not destroyed: this may run inside its callback)
  }
}

void Router::releaseRequestSlot() {
  if (holds_request_slot_) {
    holds_request_slot_ = false;
    info_.resources->releaseRequest();
  }
  leaveQueue();
}

// ---- attempts -------------------------------------------------------------------------------

UpstreamRequest& Router::addAttempt(upstream::ConnPool& pool) {
  if (!first_.has_value()) {
    return first_.emplace(*this, pool, attempts_);
  }
  more_.push_back(std::make_unique<UpstreamRequest>(*this, pool, attempts_));
  return *more_.back();
}

void Router::releaseAttempts(bool reset) {
  forEachLive([&](UpstreamRequest& attempt) { attempt.release(reset); });
  stopPerTryTimer();
}

void Router::startAttempt() {
  if (attempts_ == 0 && !holds_request_slot_ && !admitRequest()) {
    return;
  }
  state_ = State::Attempting;
  attempts_++;
  upstream::LbContext context;
  context.excluded = last_host_;
  context.has_hash = requestHash(action_.hash_policy, callbacks_.routerRequest().headers,
                                 callbacks_.routerPeerAddress(), context.hash);
  context.carbon = action_.carbon;
  upstream::ConnPool* pool = cluster_.choosePool(context);
  if (pool == nullptr) {
    fail({503, "no healthy upstream", "UH", false, true});
    return;
  }
  last_host_ = &pool->host();
  UpstreamRequest& attempt = addAttempt(*pool);
  startPerTry(attempt);
  attempt.start();  // (may call back at once: onAttemptReady() or onAttemptPoolFailure())
  if (attempts_ == 1 && state_ == State::Attempting) {
    armHedgeTimer();  // the first attempt is on its way: the first hedge is due after the delay
  }
}

void Router::startPerTry(UpstreamRequest& attempt) {
  if (!retry_.has_value() || !action_.retry->per_try_timeout.has_value()) {
    return;
  }
  MonotonicTime now = dispatcher_.approximateMonotonicTime();
  std::chrono::milliseconds timeout = retry_->attemptTimeout(now);
  if (timeout.count() > 0) {
    attempt.setPerTryDeadline(now + timeout);
    armPerTryTimer();
  }
}

void Router::armPerTryTimer() {
  bool any = false;
  MonotonicTime earliest{};
  forEachLive([&](UpstreamRequest& attempt) {
    if (attempt.hasPerTryDeadline() && (!any || attempt.perTryDeadline() < earliest)) {
      any = true;
      earliest = attempt.perTryDeadline();
    }
  });
  if (!any) {
    if (per_try_timer_armed_) {
      per_try_timer_armed_ = false;
      callbacks_.routerPerTryTimer().disableTimer();
    }
    return;
  }
  MonotonicTime now = dispatcher_.approximateMonotonicTime();
  auto delay = earliest > now ? std::chrono::ceil<std::chrono::milliseconds>(earliest - now)
                              : std::chrono::milliseconds(0);
  callbacks_.routerPerTryTimer().enableTimer(delay);
  per_try_timer_armed_ = true;
}

bool Router::startParallelAttempt() {
  if (state_ != State::Attempting || tunnel_ || request_info_.upgrade ||
      (hasBody(request_info_) && !replay_)) {
    return false;
  }
  upstream::LbContext context;
  context.excluded = last_host_;
  context.has_hash = requestHash(action_.hash_policy, callbacks_.routerRequest().headers,
                                 callbacks_.routerPeerAddress(), context.hash);
  context.carbon = action_.carbon;
  // A host no live attempt uses, when the balancer gives one within a few picks (it excludes one
  // host per pick; the last pick stands otherwise).
  upstream::ConnPool* pool = nullptr;
  for (int pick = 0; pick < 3; pick++) {
    pool = cluster_.choosePool(context);
    if (pool == nullptr) {
      return false;
    }
    bool busy = false;
    forEachLive([&](UpstreamRequest& live) { busy = busy || &live.host() == &pool->host(); });
    if (!busy) {
      break;
    }
    context.excluded = &pool->host();
  }
  attempts_++;
  last_host_ = &pool->host();
  UpstreamRequest& attempt = addAttempt(*pool);
  startPerTry(attempt);  // its own per-try deadline
  attempt.start();
  return true;
}

// ---- hedging ---------------------------------------------------------------------------------

bool Router::hedgeEligible() const {
  if (hedge_ == nullptr || request_info_.upgrade) {
    return false;
  }
  const config::HedgePolicy& policy = *action_.hedge;
  if (!policy.non_idempotent && !upstream::isIdempotentMethod(callbacks_.routerRequest().method)) {
    return false;
  }
  const bool declared_too_large = request_info_.content_length.has_value() &&
                                  *request_info_.content_length > policy.max_body_bytes;
  return !declared_too_large && body_.length() <= policy.max_body_bytes;
}

void Router::armHedgeTimer() {
  if (!hedging_ || hedges_ + 1 >= action_.hedge->max_attempts) {
    return;
  }
  if (hedge_timer_ == nullptr) {
    hedge_timer_ = dispatcher_.createTimer([this]() { onHedgeTimer(); });
  }
  hedge_due_ = dispatcher_.approximateMonotonicTime() + hedge_delay_;
  armHedgeTimerFor(hedge_delay_);
}

void Router::armHedgeTimerFor(std::chrono::microseconds wait) {
  // Timers count whole milliseconds from the loop's cached time, which may be behind: a timer may
  // fire before `hedge_due_`; onHedgeTimer() then waits for the rest.
  auto delay = std::chrono::ceil<std::chrono::milliseconds>(wait);
  hedge_timer_->enableTimer(std::max(delay, std::chrono::milliseconds(1)));
}

void Router::stopHedging() {
  if (hedge_timer_ != nullptr) {
    hedge_timer_->disableTimer();
  }
}

bool Router::overloaded() const {
  const upstream::ResourceManager& resources = *info_.resources;
  return resources.requests().open() || resources.queued() > 0 || callbacks_.routerOverloaded();
}

// A hedge is due: one more attempt, on another host when there is one, unless the request cannot
// be replayed (yet), the cluster or the listener is overloaded, or a budget says no (the
// cluster's retry budget, then the route's max_extra_load).
void Router::onHedgeTimer() {
  if (!hedging_ || state_ != State::Attempting || winner_ != nullptr) {
    return;
  }
  const MonotonicTime now = dispatcher_.approximateMonotonicTime();
  if (now < hedge_due_) {
    armHedgeTimerFor(std::chrono::duration_cast<std::chrono::microseconds>(hedge_due_ - now));
    return;  // early (see armHedgeTimerFor)
  }
  if (hasBody(request_info_) && (!replay_ || !request_complete_)) {
    if (replay_) {
      armHedgeTimer();  // the body is still arriving: a hedge may go once it is all here
    }
    return;
  }
  stats::Shard& shard = shard_;
  if (overloaded()) {
    shard.inc(info_.stats.hedge_suppressed);
    return;
  }
  upstream::ResourceManager& resources = *info_.resources;
  if (!resources.tryAcquireRetry()) {
    shard.inc(info_.stats.hedge_budget_exhausted);
    return;
  }
  if (!hedge_->tryAcquireHedge(now, shard)) {
    resources.releaseRetry();
    shard.inc(info_.stats.hedge_budget_exhausted);
    return;
  }
  const uint32_t number = attempts_ + 1;
  if (!startParallelAttempt()) {
    resources.releaseRetry();  // no host to pick
    return;
  }
  hedge_tokens_++;
  hedges_++;
  shard.inc(info_.stats.hedges_sent);
  forEachLive([&](UpstreamRequest& attempt) {
    if (attempt.number() == number) {
      attempt.markHedge();
    }
  });
  if (state_ == State::Attempting) {
    armHedgeTimer();
  }
}

void Router::recordFirstAttemptLatency(MonotonicTime until) {
  if (!hedging_ || first_latency_recorded_ || !first_.has_value()) {
    return;
  }
  first_latency_recorded_ = true;
  hedge_->recordLatency(dispatcher_.approximateMonotonicTime(),
                        std::chrono::duration_cast<std::chrono::microseconds>(
                            until - first_->startedAt()),
                        shard_);
}

uint64_t Router::upstreamBytesSent() const {
  uint64_t total = first_.has_value() ? first_->bytesSent() : 0;
  for (const UpstreamRequestPtr& attempt : more_) {
    total += attempt->bytesSent();
  }
  return total;
}

uint64_t Router::upstreamBytesReceived() const {
  uint64_t total = first_.has_value() ? first_->bytesReceived() : 0;
  for (const UpstreamRequestPtr& attempt : more_) {
    total += attempt->bytesReceived();
  }
  return total;
}

bool Router::othersLive(const UpstreamRequest& attempt) {
  bool others = false;
  forEachLive([&](UpstreamRequest& other) { others = others || &other != &attempt; });
  return others;
}

void Router::onAttemptReady(UpstreamRequest& attempt) {
  http1::MessageInfo info;
  info.upgrade = request_info_.upgrade;
  if (request_info_.content_length.has_value()) {
    info.content_length = request_info_.content_length;
  } else if (request_info_.chunked) {
    if (request_complete_) {
      // The whole body is here already: send it with a length instead of chunking.
      info.content_length = body_.length();
    } else {
      info.chunked = true;
    }
  }
  attempt.encodeHeaders(callbacks_.routerRequest(), info);
  if (hasBody(info) && (!body_.empty() || request_complete_)) {
    buffer::Buffer body;
    if (replay_) {
      body.addCopy(body_);  // every attempt sends the whole body so far, from the kept copy
    } else {
      body.move(body_);
    }
    body_sent_ = body_sent_ || !body.empty();
    attempt.encodeData(body, request_complete_);
  }
  if (downstream_paused_ && !request_complete_) {
    pauseDownstream(false);  // the pre-attach buffer limit paused the downstream; flow now
  }
  if (tunnel_ && !tunnel_pending_.empty()) {
    attempt.writeTunnel(tunnel_pending_);
  }
}

void Router::onAttemptPoolFailure(UpstreamRequest& attempt, UpstreamFailure failure,
                                  std::string_view detail) {
  armPerTryTimer();  // (the attempt is released: its deadline no longer counts)
  if (failure == UpstreamFailure::ConnectFailure || failure == UpstreamFailure::ConnectTimeout) {
    attempt.reportOutlier(UpstreamRequest::OutlierResult::ConnectFailure);
  }
  if (othersLive(attempt)) {
    return;  // another attempt is in flight: it may still answer
  }
  if (failure != UpstreamFailure::Overflow &&
      scheduleRetry(failure == UpstreamFailure::Reset ? upstream::AttemptResult::reset()
                                                      : upstream::AttemptResult::connectFailure())) {
    return;
  }
  if (failure == UpstreamFailure::Overflow) {
    // (the pool counted which limit)
    shard_.inc(info_.stats.rq_overflow);
    std::string body = "upstream overflow: " + std::string(detail);
    fail({503, body, "UO", true, true});
    return;
  }
  std::string body = "upstream connect error: " + std::string(detail);
  fail({503, body, "UF", false, true});
}

// A failed attempt: retry it (after the backoff, on another host when there is one) if the
// route's policy, the method, the time left and the cluster's retry budget allow. The request
// body is replayed from the copy kept while it fits retry.max_body_bytes; a request whose body
// outgrew it is not retried once body bytes went upstream.
bool Router::scheduleRetry(const upstream::AttemptResult& result) {
  if (!retry_.has_value() || state_ == State::Responding || state_ == State::Done ||
      (body_sent_ && !replay_)) {
    return false;
  }
  event::Dispatcher& dispatcher = dispatcher_;
  upstream::RetryDecision decision =
      retry_->onAttemptFailed(result, dispatcher.approximateMonotonicTime());
  if (decision.verdict != upstream::RetryVerdict::Retry) {
    if (decision.verdict == upstream::RetryVerdict::BudgetExhausted) {
      shard_.inc(info_.stats.rq_retry_overflow);
    }
    if (retry_->retriesDone() > 0) {
      callbacks_.onRouterFlag("URX");  // retried, and the last attempt failed too
    }
    return false;
  }
  shard_.inc(info_.stats.rq_retry);
  state_ = State::Backoff;
  if (retry_timer_ == nullptr) {
    retry_timer_ = dispatcher.createTimer([this]() { startAttempt(); });
  }
  retry_timer_->enableTimer(decision.backoff);
  return true;
}

// The earliest per-try deadline of the live attempts passed: every attempt whose deadline is
// due is reset; with none left in flight the request is retried or answered 504.
void Router::onPerTryTimeout() {
  per_try_timer_armed_ = false;
  if (state_ == State::Responding || state_ == State::Done) {
    return;  // once a response is on its way, only the route timeout bounds it
  }
  MonotonicTime now = dispatcher_.approximateMonotonicTime();
  bool expired = false;
  forEachLive([&](UpstreamRequest& attempt) {
    if (attempt.hasPerTryDeadline() && attempt.perTryDeadline() <= now) {
      if (attempt.attached()) {
        attempt.reportOutlier(UpstreamRequest::OutlierResult::Timeout);
      }
      shard_.inc(info_.stats.rq_timeout);
      attempt.release(true);
      expired = true;
    }
  });
  bool live = false;
  forEachLive([&](UpstreamRequest&) { live = true; });
  if (live) {
    armPerTryTimer();  // another attempt is in flight: it may still answer
    return;
  }
  if (!expired) {
    return;
  }
  if (scheduleRetry(upstream::AttemptResult::perTryTimeout())) {
    return;
  }
  fail({504, "upstream per-try timeout", "UT"});
}

void Router::onRouteTimeout() {
  route_timer_armed_ = false;
  if (state_ == State::Done) {
    return;
  }
  shard_.inc(info_.stats.rq_timeout);
  forEachLive([](UpstreamRequest& attempt) {
    if (attempt.attached()) {
      attempt.reportOutlier(UpstreamRequest::OutlierResult::Timeout);
      attempt.host().requestFailed();
    }
  });
  if (state_ != State::Responding) {
    fail({504, "upstream request timeout", "UT"});
    return;
  }
  releaseAttempts(true);
  finish();
  callbacks_.onRouterResponseReset("UT");
}

}  // namespace strait::http
