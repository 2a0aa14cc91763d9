#include "proxy/http/active_stream.h"

#include <array>
#include <cstdio>

#include "proxy/http/forwarded_client_cert.h"
#include "proxy/upstream/cluster.h"

namespace strait::http {

namespace {

// Request bodies buffered while the filters decide beyond this pause the downstream (the router
// has the same limit while no attempt is attached).
constexpr size_t kMaxEarlyRequestBody = 1024 * 1024;
constexpr size_t kMaxRequestIdLength = 128;

// Header names arrive lower-cased (both codecs); the length picks the one or two candidates.
bool isHopByHop(std::string_view name) {
  switch (name.size()) {
    case 2:
      return name == "te";
    case 7:
      return name == "trailer" || name == "upgrade";
    case 10:
      return name == "connection" || name == "keep-alive";
    case 16:
      return name == "proxy-connection";
    case 17:
      return name == "transfer-encoding";
    case 18:
      return name == "proxy-authenticate";
    default:
      return false;
  }
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

// A random (version 4, variant 1) UUID in its 36-character text form, without printf: two hex
// digits per byte from a table, the dashes at their fixed places.
void formatRequestId(RandomGenerator& random, char out[36]) {
  static constexpr char kHex[] = "0123456789abcdef";
  static constexpr auto kPairs = [] {
    std::array<std::array<char, 2>, 256> pairs{};
    for (size_t b = 0; b < 256; b++) {
      pairs[b] = {kHex[b >> 4], kHex[b & 0xf]};
    }
    return pairs;
  }();
  // Where each byte's two digits go: 8-4-4-4-12 digits.
  static constexpr uint8_t kAt[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
  uint64_t hi = random.random();
  uint64_t lo = random.random();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  for (int i = 0; i < 8; i++) {
    const std::array<char, 2>& h = kPairs[(hi >> (56 - 8 * i)) & 0xff];
    const std::array<char, 2>& l = kPairs[(lo >> (56 - 8 * i)) & 0xff];
    out[kAt[i]] = h[0];
    out[kAt[i] + 1] = h[1];
    out[kAt[i + 8]] = l[0];
    out[kAt[i + 8] + 1] = l[1];
  }
  out[8] = out[13] = out[18] = out[23] = '-';
}

uint64_t microsBetween(MonotonicTime from, MonotonicTime to) {
  auto d = std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
  return d < 0 ? 0 : static_cast<uint64_t>(d);
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
  if (router_.has_value()) {
    router_->abandon();  // resets what is still in flight upstream
  }
  leaveActive();  // torn down without finishing (the connection closed under it)
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
  if (responseStarted()) {
    return;
  }
  sendLocalReply(status, body, flag, false, &headers);
}

void ActiveStream::onFilterReset(std::string_view flag) {
  if (phase_ == Phase::Finished) {
    return;
  }
  addFlag(flag);
  resetStream(network::CloseType::Reset);
}

void ActiveStream::onFilterUpstreamReadDisabled(bool disabled) {
  if (router_.has_value()) {
    router_->setFilterPaused(disabled);
  }
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
  // (add() where the header is known to be absent: set() would scan for it once more.)
  if (headers.headers.get("x-forwarded-proto") == nullptr) {
    headers.headers.add("x-forwarded-proto", headers.scheme);
  } else if (http.use_remote_address) {
    headers.headers.set("x-forwarded-proto", headers.scheme);
  }
  const std::string* id = headers.headers.get("x-request-id");
  if (id == nullptr || id->empty() || id->size() > kMaxRequestIdLength) {
    if (http.generate_request_id) {
      char buf[36];
      formatRequestId(worker_.random, buf);
      if (id == nullptr) {
        headers.headers.add("x-request-id", std::string_view(buf, 36));
      } else {
        headers.headers.set("x-request-id", std::string_view(buf, 36));
      }
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
    sendResponse(response, dr.body);
    return;
  }
  if (route.redirect.has_value()) {
    ResponseHeaders response;
    response.status = route.redirect->status;
    response.headers.add("location", route_->redirectLocation(*request_));
    sendResponse(response, {});
    return;
  }
  const std::string& cluster_name = route_->pickCluster(worker_.random.random());
  upstream::ThreadLocalCluster* cluster = worker_.clusters.getThreadLocalCluster(cluster_name);
  if (cluster == nullptr) {
    sendLocalReply(503, "cluster not found: " + cluster_name, "NC");
    return;
  }
  router_.emplace(*this, *route_, *cluster, request_info_,
                  route_stats_ != nullptr ? route_stats_->hedge.get() : nullptr);
  router_->start(request_complete_, early_body_, early_tunnel_);
  if (early_paused_) {
    early_paused_ = false;
    disableDownstreamRead(false);  // the router holds the body now (and pauses on its own)
  }
}

void ActiveStream::sendResponse(ResponseHeaders& response, std::string_view body) {
  response.headers.add("content-length", std::to_string(body.size()));
  encodeResponseHeaders(response, body.empty());
  if (!body.empty()) {
    buffer::Buffer data;
    data.add(body);
    bytes_sent_ += body.size();
    buffer::Buffer out;
    downstream_.encodeData(data, true, out);
    phase_ = Phase::Written;
    writeDownstream(out);
  }
  phase_ = Phase::Written;
  if (request_complete_) {
    finish();
  }
}

void ActiveStream::decodeData(const char* data, size_t len) {
  bytes_received_ += len;
  if (phase_ >= Phase::Written) {
    return;  // a reply was sent; the rest of the body is discarded
  }
  if (router_.has_value()) {
    router_->decodeData(data, len);
    return;
  }
  early_body_.add(data, len);
  if (early_body_.length() > kMaxEarlyRequestBody && !early_paused_) {
    early_paused_ = true;
    disableDownstreamRead(true);
  }
}

void ActiveStream::decodeComplete() {
  request_complete_ = true;
  if (phase_ == Phase::Written) {
    finish();
    return;
  }
  if (router_.has_value()) {
    router_->decodeComplete();
  }
}

void ActiveStream::decodeTunnelData(const char* data, size_t len) {
  bytes_received_ += len;
  tunnel_ = true;
  if (router_.has_value()) {
    router_->decodeTunnelData(data, len);
    return;
  }
  early_tunnel_.add(data, len);
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

void ActiveStream::onDownstreamWriteHigh() {
  if (router_.has_value()) {
    router_->onDownstreamWriteHigh();
  }
}

void ActiveStream::onDownstreamWriteLow() {
  if (router_.has_value()) {
    router_->onDownstreamWriteLow();
  }
}

void ActiveStream::onRouteTimeout() {
  if (router_.has_value()) {
    router_->onRouteTimeout();
  }
}

void ActiveStream::onTryTimeout() {
  if (router_.has_value()) {
    router_->onPerTryTimeout();
  }
}

// ---- response path --------------------------------------------------------------------------

void ActiveStream::onRouterResponseHeaders(ResponseHeaders& headers,
                                           const http1::MessageInfo& info) {
  if (headers.status == 101 && request_info_.upgrade) {
    tunnel_ = true;
  }
  // An upstream head may be held by a filter (response_delay); a 101 may not: the tunnel's bytes
  // do not pass the filter chain.
  encodeResponseHeaders(headers, !info.has_body && headers.status != 101,
                        /*holdable=*/headers.status != 101);
}

void ActiveStream::encodeResponseHeaders(ResponseHeaders& headers, bool end_stream,
                                         bool holdable) {
  phase_ = Phase::Responding;
  response_status_ = headers.status;
  if (filters_.has_value() && !filters_->encodeHeaders(headers, end_stream, holdable)) {
    return;  // a filter holds the head (and the chain the body): onEncodeHeadersContinued()
  }
  writeResponseHeaders(headers, end_stream);
}

void ActiveStream::onEncodeHeadersContinued(ResponseHeaders& headers, bool end_stream) {
  if (phase_ == Phase::Finished) {
    return;
  }
  writeResponseHeaders(headers, end_stream);
  if (end_stream && upstreamDone()) {
    onResponseWritten();
  }
}

void ActiveStream::writeResponseHeaders(ResponseHeaders& headers, bool end_stream) {
  bool close = worker_.draining || downstream_.remoteClosed() ||
               (request_info_.upgrade && headers.status != 101);
  buffer::Buffer out;
  downstream_.encodeHeaders(headers, end_stream, close, out);
  if (end_stream) {
    phase_ = Phase::Written;
  }
  writeDownstream(out);
}

void ActiveStream::onRouterResponseData(const char* data, size_t len) {
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
  if (phase_ >= Phase::Written) {
    return;
  }
  buffer::Buffer out;
  downstream_.encodeData(data, end_stream, out);
  if (end_stream) {
    phase_ = Phase::Written;
  }
  writeDownstream(out);
  if (end_stream) {
    if (upstreamDone()) {
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

void ActiveStream::onRouterTunnelData(const char* data, size_t len) {
  bytes_sent_ += len;
  buffer::Buffer chunk;
  chunk.add(data, len);
  writeDownstream(chunk);
}

void ActiveStream::onRouterTunnelClosed() {
  // One side of the tunnel closed: close the other.
  phase_ = Phase::Finished;
  flushBatch();
  leaveActive();
  downstream_.onStreamComplete(true);
}

void ActiveStream::onRouterResponseComplete() {
  if (phase_ == Phase::Written) {
    onResponseWritten();  // a response without a body, already written
    return;
  }
  buffer::Buffer empty;
  encodeBody(empty, true);  // ends in onEncodedData(), which finishes the stream
}

void ActiveStream::onRouterLocalReply(const LocalReply& reply) {
  if (reply.unavailable) {
    worker_.shard.inc(listener_.stats.rq_upstream_unavailable);
  }
  sendLocalReply(reply.status, reply.body, reply.flag, reply.overloaded);
}

void ActiveStream::onRouterResponseReset(std::string_view flag) {
  addFlag(flag);
  resetStream();
}

void ActiveStream::writeDownstream(buffer::Buffer& data) {
  if (batching_) {
    batch_.move(data);
    batch_pending_ = true;
    return;
  }
  if (phase_ == Phase::Written) {
    countCompletion();  // before the last bytes leave: a client that has them sees the count
  }
  downstream_.writeDownstream(data);
}

void ActiveStream::flushBatch() {
  batching_ = false;
  // Pending even when empty: HTTP/2 encodes into its own frames and sends on this call.
  if (batch_pending_) {
    batch_pending_ = false;
    if (phase_ == Phase::Written) {
      countCompletion();
    }
    downstream_.writeDownstream(batch_);
  }
}

void ActiveStream::releaseUpstream() {
  if (router_.has_value()) {
    router_->reset();
  }
}

void ActiveStream::onDownstreamReset() {
  addFlag("DC");
  releaseUpstream();
}

void ActiveStream::onDownstreamProtocolError(uint16_t status, std::string_view reason) {
  releaseUpstream();
  if (!responseStarted()) {
    sendLocalReply(status, reason, "DPE");
    return;
  }
  resetStream();
}

void ActiveStream::resetStream(network::CloseType how) {
  releaseUpstream();
  phase_ = Phase::Finished;
  leaveActive();
  downstream_.onStreamReset(how);
}

void ActiveStream::sendLocalReply(uint16_t status, std::string_view body, std::string_view flag,
                                  bool overloaded, const std::vector<HeaderEntry>* extra) {
  addFlag(flag);
  releaseUpstream();
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
  phase_ = Phase::Written;
  writeDownstream(out);
  finish();
}

void ActiveStream::finish() {
  if (phase_ == Phase::Finished) {
    return;
  }
  phase_ = Phase::Finished;
  countCompletion();
  flushBatch();
  destroyFilters();
  releaseUpstream();
  downstream_.onStreamComplete(downstream_.closeAfterResponse() || downstream_.remoteClosed());
}

void ActiveStream::leaveActive() {
  if (!counted_) {
    counted_ = true;
    worker_.shard.sub(listener_.stats.rq_active, 1);
  }
}

void ActiveStream::countCompletion() {
  if (counted_) {
    return;
  }
  counted_ = true;
  uint64_t micros = microsBetween(start_, worker_.dispatcher.approximateMonotonicTime());
  worker_.shard.sub(listener_.stats.rq_active, 1);
  listener_.stats.rq_by_class.inc(worker_.shard, response_status_);
  worker_.shard.observeUs(listener_.stats.rq_time, micros);
  if (route_stats_ != nullptr) {
    route_stats_->rq_by_class.inc(worker_.shard, response_status_);
    worker_.shard.observeUs(route_stats_->rq_time, micros);
  }
}

}  // namespace strait::http
