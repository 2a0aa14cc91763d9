#include "proxy/http/active_stream.h"

#include <cstdio>

#include "proxy/http/forwarded_client_cert.h"
#include "strait/upstream/load_balancer.h"

namespace strait::http {

namespace {

using upstream::UpstreamFailure;

// Request bodies buffered before an upstream connection is attached beyond this pause the
// downstream: a slow connect never makes the proxy hold an unbounded upload.
constexpr size_t kMaxBufferedRequestBody = 1024 * 1024;
constexpr size_t kMaxRequestIdLength = 128;

bool isHopByHop(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "te" || name == "trailer" || name == "transfer-encoding" || name == "upgrade" ||
         name == "proxy-authenticate";
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); i++) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] + 32) : b[i];
    if (x != y) {
      return false;
    }
  }
  return true;
}

// Removes the headers a `connection` header names (RFC 9110 7.6.1), then the header itself.
void removeConnectionNominated(HeaderMap& headers) {
  const std::string* connection = headers.get("connection");
  if (connection == nullptr) {
    return;
  }
  std::string value = *connection;
  size_t pos = 0;
  while (pos < value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string::npos) {
      comma = value.size();
    }
    std::string_view token(value.data() + pos, comma - pos);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
      token.remove_prefix(1);
    }
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
      token.remove_suffix(1);
    }
    if (!token.empty() && !equalsIgnoreCase(token, "close") &&
        !equalsIgnoreCase(token, "keep-alive") && !equalsIgnoreCase(token, "upgrade")) {
      headers.removeIf([&](const HeaderEntry& e) { return equalsIgnoreCase(e.name, token); });
    }
    pos = comma + 1;
  }
}

// A random (version 4, variant 1) UUID in its 36-character text form, without printf.
void formatRequestId(RandomGenerator& random, char out[36]) {
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t hi = random.random();
  uint64_t lo = random.random();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  size_t pos = 0;
  for (int i = 0; i < 32; i++) {
    if (i == 8 || i == 12 || i == 16 || i == 20) {
      out[pos++] = '-';
    }
    uint64_t word = i < 16 ? hi : lo;
    int shift = 60 - 4 * (i % 16);
    out[pos++] = kHex[(word >> shift) & 0xf];
  }
}

void applyHeaderValues(HeaderMap& headers, const std::vector<config::HeaderValue>& values) {
  for (const auto& hv : values) {
    if (hv.append) {
      headers.add(hv.name, hv.value);
    } else {
      headers.set(hv.name, hv.value);
    }
  }
}

uint64_t microsBetween(MonotonicTime from, MonotonicTime to) {
  auto d = std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
  return d < 0 ? 0 : static_cast<uint64_t>(d);
}

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

}  // namespace

// ---- StreamTimers ---------------------------------------------------------------------------

event::Timer& StreamTimers::timer(event::TimerPtr& slot, void (ActiveStream::*fire)()) {
  if (slot == nullptr) {
    slot = factory_.createTimer([this, fire]() {
      if (stream_ != nullptr) {
        (stream_.get()->*fire)();
      }
    });
  }
  return *slot;
}

event::Timer& StreamTimers::route() { return timer(route_, &ActiveStream::onRouteTimeout); }

event::Timer& StreamTimers::perTry() { return timer(per_try_, &ActiveStream::onTryTimeout); }

void StreamTimers::disableAll() {
  for (event::TimerPtr* slot : {&route_, &per_try_}) {
    if (*slot != nullptr) {
      (*slot)->disableTimer();
    }
  }
}

// ---- ActiveStream ----------------------------------------------------------------------------

ActiveStream::ActiveStream(DownstreamStream& downstream)
    : downstream_(downstream),
      worker_(downstream.worker()),
      snapshot_(downstream.snapshot()),
      listener_(downstream.listener()),
      start_(worker_.dispatcher.approximateMonotonicTime()) {
  worker_.shard.add(listener_.stats.rq_active, 1);
}

ActiveStream::~ActiveStream() {
  destroyFilters();
  releaseRequestSlot();
  if (!finished_) {
    // Torn down without finishing (connection closed under it): release what it holds.
    releaseUpstream(true);
    worker_.shard.sub(listener_.stats.rq_active, 1);
  }
  if (cluster_ != nullptr) {
    cluster_->removeStream();
  }
}

void ActiveStream::addFlag(std::string_view flag) {
  if (!flags_.empty()) {
    flags_ += ',';
  }
  flags_ += flag;
}

// ---- request path ---------------------------------------------------------------------------

void ActiveStream::decodeHeaders(RequestHeaders& headers, const http1::MessageInfo& info) {
  request_ = &headers;
  request_info_ = info;
  request_has_body_ = info.chunked || info.upgrade ||
                      (info.content_length.has_value() && *info.content_length > 0);
  head_request_ = headers.method == "HEAD";
  normaliseRequest(headers);
  if (info.expect_continue) {
    // Answer the client's Expect ourselves (the header was removed by the codec), so the body
    // starts flowing while the upstream connection is set up.
    buffer::Buffer out;
    downstream_.encode100Continue(out);
    writeDownstream(out);
  }
  route_ = listener_.routes->route(headers);
  if (!listener_.filter_factories.empty()) {
    // The route is matched first so that filters can scope themselves by it; the filters then
    // run before anything is answered, so an unauthorized request learns nothing (not even 404).
    filters_.emplace(*this, listener_.filter_factories);
    filters_->decodeHeaders(headers, !request_has_body_);
    return;
  }
  onDecodeFiltersDone();
}

void ActiveStream::onDecodeFiltersDone() {
  if (route_ == nullptr) {
    worker_.shard.inc(listener_.stats.rq_no_route);
    sendLocalReply(404, "no route matched", "NR");
    return;
  }
  route_stats_ = listener_.routeStats(&route_->route());
  applyRoute();
}

const config::Route* ActiveStream::filterRoute() const {
  return route_ == nullptr ? nullptr : &route_->route();
}

std::string_view ActiveStream::filterClusterName() const {
  if (route_ == nullptr || !route_->route().route.has_value()) {
    return {};
  }
  const config::RouteAction& action = *route_->route().route;
  if (!action.cluster.empty()) {
    return action.cluster;
  }
  return action.weighted_clusters.empty() ? std::string_view()
                                          : std::string_view(action.weighted_clusters[0].cluster);
}

const std::string& ActiveStream::filterPrincipal() const { return downstream_.principal(); }

void ActiveStream::onFilterLocalReply(uint16_t status, std::string_view body,
                                      std::string_view flag,
                                      const std::vector<HeaderEntry>& headers) {
  if (finished_ || response_started_) {
    return;
  }
  sendLocalReply(status, body, flag, false, &headers);
}

void ActiveStream::onFilterReset(std::string_view flag) {
  if (finished_) {
    return;
  }
  addFlag(flag);
  releaseUpstream(true);
  stopRouteTimer();
  finished_ = true;
  worker_.shard.sub(listener_.stats.rq_active, 1);
  downstream_.onStreamReset(network::CloseType::Reset);
}

void ActiveStream::onFilterUpstreamReadDisabled(bool disabled) {
  if (disabled == filter_upstream_read_disabled_) {
    return;
  }
  filter_upstream_read_disabled_ = disabled;
  if (client_ != nullptr) {
    client_->readDisable(disabled);
  }
}

void ActiveStream::reportOutlier(OutlierResult result, uint16_t status) {
  const upstream::ClusterInfo& info = cluster_->info();
  if (info.outlier == nullptr || last_host_ == nullptr) {
    return;
  }
  // A host an endpoint update removed meanwhile is counted but judges nothing (the detector
  // ejects only hosts of the set in force).
  worker_.shard.inc(info.stats.outlier_reports);
  switch (result) {
    case OutlierResult::Status:
      info.outlier->reportStatus(*last_host_, status);
      break;
    case OutlierResult::ConnectFailure:
      info.outlier->reportConnectFailure(*last_host_);
      break;
    case OutlierResult::Reset:
      info.outlier->reportReset(*last_host_);
      break;
    case OutlierResult::Timeout:
      info.outlier->reportTimeout(*last_host_);
      break;
  }
}

void ActiveStream::releaseRequestSlot() {
  if (holds_request_slot_) {
    holds_request_slot_ = false;
    cluster_->info().resources->releaseRequest();
  }
  if (slot_ticket_ != nullptr) {
    cluster_->info().resources->cancelWait(slot_ticket_);
    slot_ticket_.reset();
    queue_timer_->disableTimer();  // (not destroyed: this may run inside its callback)
  }
}

// Circuit breaker, per process: one max_requests slot for the whole request, retries included.
// Over the limit, the request waits in the cluster's pending queue (within max_pending_requests,
// up to queue_timeout) for a slot; the route timeout keeps running meanwhile.
bool ActiveStream::admitRequest() {
  const upstream::ClusterInfo& info = cluster_->info();
  using Admission = upstream::ResourceManager::Admission;
  switch (info.resources->admitRequest(worker_.dispatcher, *this, slot_ticket_)) {
    case Admission::Admitted:
      holds_request_slot_ = true;
      return true;
    case Admission::Queued:
      worker_.shard.inc(info.stats.rq_queued);
      if (queue_timer_ == nullptr) {
        queue_timer_ = worker_.dispatcher.createTimer([this]() { onQueueTimeout(); });
      }
      queue_timer_->enableTimer(info.config.circuit_breakers.queue_timeout);
      return false;
    case Admission::Overflow:
      worker_.shard.inc(info.stats.rq_overflow);
      worker_.shard.inc(listener_.stats.rq_upstream_unavailable);
      sendLocalReply(503, "upstream overflow: cluster max_requests reached", "UO", true);
      return false;
    case Admission::QueueFull:
      worker_.shard.inc(info.stats.rq_overflow);
      worker_.shard.inc(info.stats.rq_pending_overflow);
      worker_.shard.inc(listener_.stats.rq_upstream_unavailable);
      sendLocalReply(503,
                     "upstream overflow: cluster max_requests reached and its pending queue "
                     "(max_pending_requests) is full",
                     "UO", true);
      return false;
  }
  return false;
}

void ActiveStream::onRequestSlotGranted() {
  slot_ticket_.reset();
  queue_timer_->disableTimer();
  holds_request_slot_ = true;
  if (finished_ || response_started_) {
    releaseRequestSlot();  // (cannot happen: finishing leaves the queue; kept for safety)
    return;
  }
  startUpstream();
}

void ActiveStream::onQueueTimeout() {
  const upstream::ClusterInfo& info = cluster_->info();
  releaseRequestSlot();  // leaves the queue
  worker_.shard.inc(info.stats.rq_overflow);
  worker_.shard.inc(info.stats.rq_queue_timeout);
  worker_.shard.inc(listener_.stats.rq_upstream_unavailable);
  sendLocalReply(503,
                 "upstream overflow: no max_requests slot came free within the queue_timeout "
                 "of " + std::to_string(info.config.circuit_breakers.queue_timeout.count()) + "ms",
                 "UO", true);
}

void ActiveStream::destroyFilters() {
  if (filters_.has_value()) {
    filters_->destroy();
  }
}

void ActiveStream::normaliseRequest(RequestHeaders& headers) {
  const auto& http = listener_.config.http;
  headers.scheme = downstream_.connection().secure() ? "https" : "http";
  applyForwardedClientCert(listener_.config.forward_client_cert, downstream_.connection(),
                           headers.headers);
  removeConnectionNominated(headers.headers);
  headers.headers.removeIf([&](const HeaderEntry& e) {
    return isHopByHop(e.name) && !(request_info_.upgrade && e.name == "upgrade");
  });
  const std::string& peer = downstream_.remoteAddress();
  // x-forwarded-for: always append the peer. At the edge (use_remote_address) the peer is the
  // client and what arrived is only the client's claim; behind a trusted proxy the incoming
  // header is kept as the client's chain.
  if (std::string* xff = headers.headers.getMutable("x-forwarded-for"); xff != nullptr) {
    xff->append(", ");
    xff->append(peer);
  } else {
    headers.headers.add("x-forwarded-for", peer);
  }
  if (http.use_remote_address || headers.headers.get("x-forwarded-proto") == nullptr) {
    headers.headers.set("x-forwarded-proto", headers.scheme);
  }
  const std::string* id = headers.headers.get("x-request-id");
  if (id == nullptr || id->empty() || id->size() > kMaxRequestIdLength) {
    if (http.generate_request_id) {
      char buf[36];
      formatRequestId(worker_.random, buf);
      headers.headers.set("x-request-id", std::string_view(buf, 36));
    }
  }
}

void ActiveStream::applyRoute() {
  const config::Route& route = route_->route();
  if (route.direct_response.has_value()) {
    const auto& dr = *route.direct_response;
    ResponseHeaders response;
    response.status = dr.status;
    if (!dr.body.empty()) {
      response.headers.add("content-type", dr.content_type);
    }
    response.headers.add("content-length", std::to_string(dr.body.size()));
    encodeResponseHeaders(response, dr.body.empty());
    if (!dr.body.empty()) {
      buffer::Buffer body;
      body.add(dr.body);
      bytes_sent_ += dr.body.size();
      buffer::Buffer out;
      downstream_.encodeData(body, true, out);
      writeDownstream(out);
    }
    response_complete_ = true;
    if (request_complete_) {
      finish();
    }
    return;
  }
  if (route.redirect.has_value()) {
    ResponseHeaders response;
    response.status = route.redirect->status;
    response.headers.add("location", route_->redirectLocation(*request_));
    response.headers.add("content-length", "0");
    encodeResponseHeaders(response, true);
    response_complete_ = true;
    if (request_complete_) {
      finish();
    }
    return;
  }
  const config::RouteAction& action = *route.route;
  const std::string& cluster_name = route_->pickCluster(worker_.random.random());
  cluster_ = worker_.clusters.get(cluster_name);
  if (cluster_ == nullptr) {
    sendLocalReply(503, "cluster not found: " + cluster_name, "NC");
    return;
  }
  cluster_->addStream();  // held until this stream is destroyed (see WorkerCluster)
  if (!action.prefix_rewrite.empty()) {
    request_->path = route_->rewritePath(request_->path);
  }
  if (!action.host_rewrite.empty()) {
    request_->authority = action.host_rewrite;
  }
  for (const auto& name : route.request_headers_to_remove) {
    request_->headers.remove(name);
  }
  applyHeaderValues(request_->headers, route_->virtualHost().request_headers_to_add);
  applyHeaderValues(request_->headers, route.request_headers_to_add);
  if (action.timeout.count() > 0) {
    downstream_.timers().route().enableTimer(action.timeout);
    route_timer_armed_ = true;
  }
  if (action.retry.has_value() && action.retry->attempts > 0) {
    retry_.emplace(
        &*action.retry, request_->method, cluster_->info().resources.get(), worker_.random,
        worker_.dispatcher.approximateMonotonicTime(), action.timeout);
    // Keep a copy of the request body for replay while it fits retry.max_body_bytes.
    replay_ok_ = retry_->enabled() && !request_info_.upgrade;
    if (replay_ok_ && !request_body_.empty()) {
      replay_body_.add(request_body_.toString());
      retry_->onBodyBuffered(replay_body_.length());
      replay_ok_ = retry_->enabled();
    }
  }
  startUpstream();
}

// A failed attempt: retry it (after the backoff, on another host when there is one) if the
// route's policy, the method, the time left and the cluster's retry budget allow. Request bodies
// are replayed from a copy kept while they fit retry.max_body_bytes; a request whose body outgrew
// it is not retried once body bytes went upstream.
bool ActiveStream::scheduleRetry(const upstream::AttemptResult& result) {
  if (!retry_.has_value() || response_started_ || finished_ ||
      (body_sent_upstream_ && !replay_ok_)) {
    return false;
  }
  upstream::RetryDecision decision =
      retry_->onAttemptFailed(result, worker_.dispatcher.approximateMonotonicTime());
  if (decision.verdict != upstream::RetryVerdict::Retry) {
    if (decision.verdict == upstream::RetryVerdict::BudgetExhausted) {
      worker_.shard.inc(cluster_->info().stats.rq_retry_overflow);
    }
    if (retry_->retriesDone() > 0) {
      addFlag("URX");  // retried, and the last attempt failed too
    }
    return false;
  }
  worker_.shard.inc(cluster_->info().stats.rq_retry);
  if (retry_timer_ == nullptr) {
    retry_timer_ = worker_.dispatcher.createTimer([this]() { startUpstream(); });
  }
  retry_timer_->enableTimer(decision.backoff);
  return true;
}

void ActiveStream::onTryTimeout() {
  if (client_ != nullptr) {
    reportOutlier(OutlierResult::Timeout, 0);
  }
  worker_.shard.inc(cluster_->info().stats.rq_timeout);
  releaseUpstream(true);
  if (scheduleRetry(upstream::AttemptResult::perTryTimeout())) {
    return;
  }
  sendLocalReply(504, "upstream per-try timeout", "UT");
}

void ActiveStream::startUpstream() {
  if (attempts_ == 0 && !holds_request_slot_ && !admitRequest()) {
    return;
  }
  attempts_++;
  upstream::LbContext context;
  context.excluded = last_host_;
  context.has_hash = requestHash(route_->route().route->hash_policy, request_->headers,
                                 downstream_.remoteAddress(), context.hash);
  upstream::ConnPool* pool = cluster_->choosePool(context);
  if (pool == nullptr) {
    worker_.shard.inc(listener_.stats.rq_upstream_unavailable);
    sendLocalReply(503, "no healthy upstream", "UH");
    return;
  }
  last_host_ = &pool->host();
  upstream_start_ = worker_.dispatcher.approximateMonotonicTime();
  if (retry_.has_value() && route_->route().route->retry->per_try_timeout.has_value()) {
    std::chrono::milliseconds timeout = retry_->attemptTimeout(upstream_start_);
    if (timeout.count() > 0) {
      downstream_.timers().perTry().enableTimer(timeout);
      try_timer_armed_ = true;
    }
  }
  pending_ = pool->newStream(*this);
}

void ActiveStream::onPoolReady(upstream::UpstreamClient& client) {
  pending_ = nullptr;
  client_ = &client;
  client.attach(*this);
  auto& host = const_cast<upstream::HostImpl&>(client.host());
  host.requestStarted();
  host.rq_total.fetch_add(1, std::memory_order_relaxed);
  worker_.shard.add(cluster_->info().stats.rq_active, 1);

  http1::MessageInfo info;
  info.upgrade = request_info_.upgrade;
  if (request_info_.content_length.has_value()) {
    info.content_length = request_info_.content_length;
  } else if (request_info_.chunked) {
    if (request_complete_) {
      // The whole body is here already: send it with a length instead of chunking.
      info.content_length = request_body_.length();
    } else {
      info.chunked = true;
    }
  }
  if (replay_ok_) {
    // Every attempt sends the whole body so far, from the replay copy.
    request_body_.clear();
    request_body_.add(replay_body_.toString());
    if (info.content_length.has_value() && !request_info_.content_length.has_value()) {
      info.content_length = request_body_.length();
    }
  }
  client.encodeHeaders(*request_, info);
  bool has_body = info.chunked || (info.content_length.has_value() && *info.content_length > 0);
  if (has_body && (!request_body_.empty() || request_complete_)) {
    body_sent_upstream_ = body_sent_upstream_ || !request_body_.empty();
    client.encodeData(request_body_, request_complete_);
  }
  if (downstream_read_disables_ > 0 && !request_complete_) {
    // The pre-attach buffer limit paused the downstream; the body can flow now.
    disableDownstreamRead(false);
  }
  if (tunnel_ && !tunnel_pending_.empty()) {
    client.writeTunnel(tunnel_pending_);
  }
}

void ActiveStream::onPoolFailure(UpstreamFailure failure, std::string_view detail) {
  pending_ = nullptr;
  if (failure == UpstreamFailure::ConnectFailure || failure == UpstreamFailure::ConnectTimeout) {
    reportOutlier(OutlierResult::ConnectFailure, 0);
  }
  if (failure != UpstreamFailure::Overflow &&
      scheduleRetry(failure == UpstreamFailure::Reset ? upstream::AttemptResult::reset()
                                                      : upstream::AttemptResult::connectFailure())) {
    return;
  }
  worker_.shard.inc(listener_.stats.rq_upstream_unavailable);
  if (failure == UpstreamFailure::Overflow) {
    worker_.shard.inc(cluster_->info().stats.rq_overflow);  // (the pool counted which limit)
    sendLocalReply(503, "upstream overflow: " + std::string(detail), "UO", true);
    return;
  }
  sendLocalReply(503, "upstream connect error: " + std::string(detail), "UF");
}

void ActiveStream::decodeData(const char* data, size_t len) {
  bytes_received_ += len;
  if (finished_ || response_complete_) {
    return;  // a local reply was sent; the rest of the body is discarded
  }
  if (replay_ok_) {
    replay_body_.add(data, len);
    retry_->onBodyBuffered(replay_body_.length());
    if (!retry_->enabled()) {
      replay_ok_ = false;
      replay_body_.clear();
      if (client_ == nullptr && body_sent_upstream_) {
        // A retry is waiting for its backoff, and the body it must replay no longer fits.
        sendLocalReply(503, "upstream attempt failed; request body too large to replay", "URX");
        return;
      }
    }
  }
  if (client_ != nullptr) {
    buffer::Buffer chunk;
    chunk.add(data, len);
    body_sent_upstream_ = true;
    client_->encodeData(chunk, false);
    return;
  }
  request_body_.add(data, len);
  if (request_body_.length() > kMaxBufferedRequestBody && downstream_read_disables_ == 0) {
    disableDownstreamRead(true);
  }
}

void ActiveStream::decodeComplete() {
  request_complete_ = true;
  if (response_complete_) {
    finish();
    return;
  }
  if (client_ != nullptr && !tunnel_) {
    bool has_body = request_info_.chunked ||
                    (request_info_.content_length.has_value() && *request_info_.content_length > 0);
    if (has_body) {
      client_->encodeData(request_body_, true);
    }
  }
}

void ActiveStream::decodeTunnelData(const char* data, size_t len) {
  bytes_received_ += len;
  tunnel_ = true;
  if (client_ != nullptr && response_started_) {
    buffer::Buffer chunk;
    chunk.add(data, len);
    client_->writeTunnel(chunk);
    return;
  }
  tunnel_pending_.add(data, len);
}

void ActiveStream::disableDownstreamRead(bool disable) {
  if (disable) {
    downstream_read_disables_++;
    downstream_.readDisable(true);
  } else if (downstream_read_disables_ > 0) {
    downstream_read_disables_--;
    downstream_.readDisable(false);
  }
}

void ActiveStream::onUpstreamWriteBufferHigh() { disableDownstreamRead(true); }
void ActiveStream::onUpstreamWriteBufferLow() { disableDownstreamRead(false); }

void ActiveStream::onDownstreamWriteHigh() {
  if (client_ != nullptr && !upstream_read_disabled_) {
    upstream_read_disabled_ = true;
    client_->readDisable(true);
  }
}

void ActiveStream::onDownstreamWriteLow() {
  if (client_ != nullptr && upstream_read_disabled_) {
    upstream_read_disabled_ = false;
    client_->readDisable(false);
  }
}

// ---- response path --------------------------------------------------------------------------

void ActiveStream::onUpstreamHeaders(ResponseHeaders& headers, const http1::MessageInfo& info) {
  upstream_response_ = true;
  upstream_headers_at_ = worker_.dispatcher.approximateMonotonicTime();
  reportOutlier(OutlierResult::Status, headers.status);
  if (retry_.has_value() && headers.status >= 500 && request_complete_ &&
      scheduleRetry(upstream::AttemptResult::response(headers.status))) {
    // Drop this response: the connection is reset (its body is not read), the next attempt
    // starts after the backoff.
    upstream_response_ = false;
    releaseUpstream(true);
    return;
  }
  if (headers.status >= 500) {
    const_cast<upstream::HostImpl&>(client_->host())
        .rq_error.fetch_add(1, std::memory_order_relaxed);
  }
  const config::Route& route = route_->route();
  for (const auto& name : route.response_headers_to_remove) {
    headers.headers.remove(name);
  }
  applyHeaderValues(headers.headers, route_->virtualHost().response_headers_to_add);
  applyHeaderValues(headers.headers, route.response_headers_to_add);
  if (headers.status == 101 && request_info_.upgrade) {
    tunnel_ = true;
    stopRouteTimer();  // a tunnel lives as long as its peers keep it
  }
  // An upstream head may be held by a filter (response_delay); a 101 may not: the tunnel's bytes
  // do not pass the filter chain.
  encodeResponseHeaders(headers, !info.has_body && headers.status != 101,
                        /*holdable=*/headers.status != 101);
  if (tunnel_ && headers.status == 101 && !tunnel_pending_.empty()) {
    client_->writeTunnel(tunnel_pending_);
  }
}

void ActiveStream::encodeResponseHeaders(ResponseHeaders& headers, bool end_stream,
                                         bool holdable) {
  response_started_ = true;
  response_status_ = headers.status;
  if (filters_.has_value() && !filters_->encodeHeaders(headers, end_stream, holdable)) {
    return;  // a filter holds the head (and the chain the body): onEncodeHeadersContinued()
  }
  writeResponseHeaders(headers, end_stream);
}

void ActiveStream::onEncodeHeadersContinued(ResponseHeaders& headers, bool end_stream) {
  if (finished_) {
    return;
  }
  writeResponseHeaders(headers, end_stream);
  if (end_stream && upstream_done_) {
    onResponseWritten();
  }
}

void ActiveStream::writeResponseHeaders(ResponseHeaders& headers, bool end_stream) {
  bool close = worker_.draining || downstream_.remoteClosed() ||
               (request_info_.upgrade && headers.status != 101);
  buffer::Buffer out;
  downstream_.encodeHeaders(headers, end_stream, close, out);
  writeDownstream(out);
  if (end_stream) {
    response_complete_ = true;
  }
}

void ActiveStream::onUpstreamData(const char* data, size_t len) {
  if (!response_started_) {
    return;
  }
  bytes_sent_ += len;
  buffer::Buffer chunk;
  chunk.add(data, len);
  encodeBody(chunk, false);
}

void ActiveStream::encodeBody(buffer::Buffer& data, bool end_stream) {
  if (filters_.has_value()) {
    filters_->encodeData(data, end_stream);
    return;
  }
  onEncodedData(data, end_stream);
}

void ActiveStream::onEncodedData(buffer::Buffer& data, bool end_stream) {
  if (finished_ || response_complete_) {
    return;
  }
  buffer::Buffer out;
  downstream_.encodeData(data, end_stream, out);
  writeDownstream(out);
  if (end_stream) {
    response_complete_ = true;
    if (upstream_done_) {
      onResponseWritten();
    }
  }
}

void ActiveStream::onResponseWritten() {
  if (!request_complete_) {
    // The upstream answered before the request body finished (e.g. an early 413): the rest of
    // the body has nowhere to go, so the connection closes after this response.
    downstream_.setRemoteClosed();
  }
  finish();
}

void ActiveStream::onUpstreamTunnelData(const char* data, size_t len) {
  bytes_sent_ += len;
  buffer::Buffer chunk;
  chunk.add(data, len);
  writeDownstream(chunk);
}

void ActiveStream::onUpstreamComplete() {
  if (tunnel_) {
    return;  // the 101's head is complete; the tunnel runs until a side closes
  }
  // The upstream is done: the route timeout no longer applies, even if a filter still paces
  // the last bytes out (response_rate_limit).
  stopRouteTimer();
  releaseUpstream(false);
  upstream_done_ = true;
  if (response_complete_) {
    onResponseWritten();  // a response without a body, already written
    return;
  }
  buffer::Buffer empty;
  encodeBody(empty, true);  // ends in onEncodedData(), which finishes the stream
}

void ActiveStream::onUpstreamError(UpstreamFailure failure, std::string_view detail) {
  bool reused = client_ != nullptr && client_->reused();
  releaseUpstream(false);
  client_ = nullptr;
  if (!response_started_) {
    // A reused keep-alive connection that the upstream closed just as we sent on it: the
    // request never reached the application, so trying once more on a fresh connection is safe.
    if (failure == UpstreamFailure::Reset && reused && !body_sent_upstream_ &&
        attempts_ < 2 + (route_->route().route->retry ? route_->route().route->retry->attempts : 0)) {
      worker_.shard.inc(cluster_->info().stats.rq_retry);
      last_host_ = nullptr;
      startUpstream();
      return;
    }
    reportOutlier(OutlierResult::Reset, 0);
    if (scheduleRetry(upstream::AttemptResult::reset())) {
      return;
    }
    worker_.shard.inc(cluster_->info().stats.rq_reset);
    if (failure == UpstreamFailure::ProtocolError) {
      sendLocalReply(502, "upstream protocol error: " + std::string(detail), "UPE");
    } else {
      sendLocalReply(503, "upstream reset before response: " + std::string(detail), "UR");
    }
    return;
  }
  if (tunnel_) {
    // One side of the tunnel closed: close the other.
    finished_ = true;
    flushBatch();
    worker_.shard.sub(listener_.stats.rq_active, 1);
    downstream_.onStreamComplete(true);
    return;
  }
  worker_.shard.inc(cluster_->info().stats.rq_reset);
  addFlag("UR");
  // The response is half out: the only honest signal left is to cut the connection.
  finished_ = true;
  worker_.shard.sub(listener_.stats.rq_active, 1);
  downstream_.onStreamReset();
}

void ActiveStream::onRouteTimeout() {
  worker_.shard.inc(cluster_->info().stats.rq_timeout);
  if (client_ != nullptr) {
    reportOutlier(OutlierResult::Timeout, 0);
  }
  if (client_ != nullptr) {
    const_cast<upstream::HostImpl&>(client_->host())
        .rq_error.fetch_add(1, std::memory_order_relaxed);
  }
  releaseUpstream(true);
  if (!response_started_) {
    sendLocalReply(504, "upstream request timeout", "UT");
    return;
  }
  addFlag("UT");
  finished_ = true;
  worker_.shard.sub(listener_.stats.rq_active, 1);
  downstream_.onStreamReset();
}

void ActiveStream::writeDownstream(buffer::Buffer& data) {
  if (batching_) {
    batch_.move(data);
    batch_pending_ = true;
    return;
  }
  downstream_.writeDownstream(data);
}

void ActiveStream::flushBatch() {
  batching_ = false;
  // Pending even when empty: HTTP/2 encodes into its own frames and sends on this call.
  if (batch_pending_) {
    batch_pending_ = false;
    downstream_.writeDownstream(batch_);
  }
}

void ActiveStream::stopRouteTimer() {
  if (route_timer_armed_) {
    route_timer_armed_ = false;
    downstream_.timers().route().disableTimer();
  }
}

void ActiveStream::releaseUpstream(bool reset) {
  if (try_timer_armed_) {
    try_timer_armed_ = false;
    downstream_.timers().perTry().disableTimer();
  }
  if (slot_ticket_ != nullptr) {
    releaseRequestSlot();  // still queued for a slot: leave the queue
  }
  if (pending_ != nullptr) {
    pending_->cancel();
    pending_ = nullptr;
  }
  if (client_ != nullptr) {
    if (!reset) {
      // The connection goes back to the pool: it must not stay paused for the next stream.
      // (Read-disables nest: one enable per disable.)
      for (int i = int{filter_upstream_read_disabled_} + int{upstream_read_disabled_}; i > 0; i--) {
        client_->readDisable(false);
      }
    }
    filter_upstream_read_disabled_ = false;
    upstream_read_disabled_ = false;
    auto& host = const_cast<upstream::HostImpl&>(client_->host());
    host.requestFinished();
    worker_.shard.sub(cluster_->info().stats.rq_active, 1);
    if (upstream_response_ && response_status_ != 0) {
      cluster_->info().stats.rq_by_class.inc(worker_.shard, response_status_);
      worker_.shard.observeUs(
          cluster_->info().stats.rq_time,
          microsBetween(upstream_start_, worker_.dispatcher.approximateMonotonicTime()));
    }
    if (reset) {
      client_->resetStream();
    }
    client_ = nullptr;
  }
}

void ActiveStream::onDownstreamReset() {
  addFlag("DC");
  releaseUpstream(true);
  stopRouteTimer();
}

void ActiveStream::onDownstreamProtocolError(uint16_t status, std::string_view reason) {
  releaseUpstream(true);
  if (!response_started_) {
    sendLocalReply(status, reason, "DPE");
    return;
  }
  finished_ = true;
  worker_.shard.sub(listener_.stats.rq_active, 1);
  downstream_.onStreamReset();
}

void ActiveStream::sendLocalReply(uint16_t status, std::string_view body, std::string_view flag,
                                  bool overloaded, const std::vector<HeaderEntry>* extra) {
  addFlag(flag);
  releaseUpstream(true);
  stopRouteTimer();
  if (!request_complete_ && (request_has_body_ || request_ == nullptr)) {
    // The request body is still arriving; its remaining bytes would be parsed as a new request,
    // so the connection closes after this reply, and the reply says so (connection: close).
    // A request without a body is whole once its head is parsed: the connection stays open.
    downstream_.setRemoteClosed();
  }
  ResponseHeaders response;
  response.status = status;
  response.headers.add("content-type", "text/plain");
  response.headers.add("content-length", std::to_string(body.size() + 1));
  if (overloaded) {
    response.headers.add("x-strait-overloaded", "true");
  }
  if (extra != nullptr) {
    for (const HeaderEntry& header : *extra) {
      response.headers.add(header.name, header.value);
    }
  }
  encodeResponseHeaders(response, false);
  buffer::Buffer data;
  data.add(body);
  data.add("\n", 1);
  bytes_sent_ += body.size() + 1;
  buffer::Buffer out;
  downstream_.encodeData(data, true, out);
  writeDownstream(out);
  response_complete_ = true;
  finish();
}

void ActiveStream::finish() {
  if (finished_) {
    return;
  }
  finished_ = true;
  flushBatch();
  stopRouteTimer();
  destroyFilters();
  releaseRequestSlot();
  if (retry_timer_ != nullptr) {
    retry_timer_->disableTimer();
  }
  if (retry_.has_value()) {
    retry_->onRequestDone();
  }
  uint64_t micros = microsBetween(start_, worker_.dispatcher.approximateMonotonicTime());
  worker_.shard.sub(listener_.stats.rq_active, 1);
  listener_.stats.rq_by_class.inc(worker_.shard, response_status_);
  worker_.shard.observeUs(listener_.stats.rq_time, micros);
  if (route_stats_ != nullptr) {
    route_stats_->rq_by_class.inc(worker_.shard, response_status_);
    worker_.shard.observeUs(route_stats_->rq_time, micros);
  }
  downstream_.onStreamComplete(downstream_.closeAfterResponse() || downstream_.remoteClosed());
}

}  // namespace strait::http
