#include "proxy/upstream/http2_pool.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <vector>

#include "proxy/http/http2_headers.h"
#include "proxy/upstream/http2_pool_internal.h"

namespace strait::upstream {

namespace {

nghttp2_nv makeNv(std::string_view name, std::string_view value) {
  return {const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
          const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())), name.size(),
          value.size(), NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

// ---- Stream ---------------------------------------------------------------------------------

nghttp2_session* Http2Pool::Stream::session() { return connection_.session(); }

HostImpl& Http2Pool::Stream::host() { return connection_.pool().host(); }

void Http2Pool::Stream::encodeHeaders(const http::RequestHeaders& headers,
                                      const http::http1::MessageInfo& info) {
  std::vector<nghttp2_nv> nv;
  nv.reserve(headers.headers.size() + 4);
  nv.push_back(makeNv(":method", headers.method));
  // Both branches string_views: a std::string temporary would die before the submit.
  nv.push_back(makeNv(":scheme", headers.scheme.empty() ? std::string_view("http")
                                                         : std::string_view(headers.scheme)));
  nv.push_back(makeNv(":authority", headers.authority));
  nv.push_back(makeNv(":path", headers.path));
  for (const http::HeaderEntry& entry : headers.headers) {
    if (http::http2::isConnectionSpecific(entry.name) || entry.name == "host") {
      continue;
    }
    nv.push_back(makeNv(entry.name, entry.value));
  }
  if (headers.headers.get("te") == nullptr && headers.headers.get("content-type") != nullptr &&
      headers.headers.get("content-type")->starts_with("application/grpc")) {
    // gRPC servers require "te: trailers", which HTTP/1.1 hop-by-hop rules removed on the way in.
    nv.push_back(makeNv("te", "trailers"));
  }
  bool has_body = info.chunked || (info.content_length.has_value() && *info.content_length > 0);
  out_.setEnded(!has_body);
  nghttp2_data_provider provider;
  provider.source.ptr = this;
  provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                              uint32_t* flags, nghttp2_data_source* source, void*) -> ssize_t {
    return static_cast<Stream*>(source->ptr)->readBody(buf, length, flags);
  };
  id_ = nghttp2_submit_request(session(), nullptr, nv.data(), nv.size(),
                               has_body ? &provider : nullptr, this);
  if (id_ < 0) {
    fail("cannot open an HTTP/2 stream");
    return;
  }
  connection_.sendPending();
}

void Http2Pool::Stream::encodeData(buffer::Buffer& data, bool end_stream) {
  http::http2::OutboundBody::Mark mark = out_.add(data, end_stream);
  out_.resume(session(), id_);
  if (mark == http::http2::OutboundBody::Mark::High && callbacks_ != nullptr) {
    callbacks_->onUpstreamWriteBufferHigh();
  }
  connection_.sendPending();
}

ssize_t Http2Pool::Stream::readBody(uint8_t* buf, size_t length, uint32_t* flags) {
  http::http2::OutboundBody::Mark mark;
  ssize_t n = out_.read(buf, length, flags, mark);
  if (mark == http::http2::OutboundBody::Mark::Low && callbacks_ != nullptr) {
    callbacks_->onUpstreamWriteBufferLow();
  }
  return n;
}

void Http2Pool::Stream::readDisable(bool disable) {
  if (inbound_.readDisable(session(), id_, disable)) {
    connection_.sendPending();  // the WINDOW_UPDATE
  }
}

void Http2Pool::Stream::resetStream() {
  callbacks_ = nullptr;
  if (id_ > 0 && !complete_) {
    nghttp2_submit_rst_stream(session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
    connection_.sendPending();
  }
}

void Http2Pool::Stream::onHeader(bool trailers, std::string_view name, std::string_view value) {
  if (trailers) {
    trailers_.add(name, value);
    return;
  }
  if (name == ":status") {
    uint16_t status = 0;
    std::from_chars(value.data(), value.data() + value.size(), status);
    response_.status = status;
    return;
  }
  if (!name.empty() && name[0] == ':') {
    return;
  }
  response_.headers.add(name, value);
}

void Http2Pool::Stream::onHeadersDone(bool trailers, bool end_stream) {
  if (trailers) {
    return;  // delivered with the end of the stream
  }
  if (response_.status < 200) {
    response_.clear();  // 1xx: the final response follows
    return;
  }
  if (callbacks_ != nullptr) {
    http::http1::MessageInfo info;
    info.has_body = !end_stream;
    if (const std::string* length = response_.headers.get("content-length")) {
      uint64_t value = 0;
      auto [ptr, ec] = std::from_chars(length->data(), length->data() + length->size(), value);
      if (ec == std::errc() && ptr == length->data() + length->size()) {
        info.content_length = value;
      }
    }
    callbacks_->onUpstreamHeaders(response_, info);
  }
}

void Http2Pool::Stream::onData(const uint8_t* data, size_t len) {
  inbound_.onData(session(), id_, len, callbacks_ != nullptr);
  if (callbacks_ != nullptr) {
    callbacks_->onUpstreamData(reinterpret_cast<const char*>(data), len);
  }
}

void Http2Pool::Stream::onEndStream() {
  complete_ = true;
  UpstreamStreamCallbacks* callbacks = callbacks_;
  callbacks_ = nullptr;
  if (!out_.ended() && id_ > 0) {
    // The upstream answered before the request body ended: it wants no more of it.
    nghttp2_submit_rst_stream(session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_NO_ERROR);
  }
  if (callbacks != nullptr) {
    if (!trailers_.empty()) {
      callbacks->onUpstreamTrailers(trailers_);
    }
    callbacks->onUpstreamComplete();
  }
}

void Http2Pool::Stream::fail(std::string_view detail) {
  UpstreamStreamCallbacks* callbacks = callbacks_;
  callbacks_ = nullptr;
  complete_ = true;
  if (callbacks != nullptr) {
    callbacks->onUpstreamError(UpstreamFailure::Reset, detail);
  }
}

void Http2Pool::Stream::onClosed(uint32_t error_code) {
  if (!complete_) {
    fail(error_code == NGHTTP2_REFUSED_STREAM ? "upstream refused the stream"
                                              : "upstream reset the stream");
  }
}

// ---- Http2Pool ------------------------------------------------------------------------------

Http2Pool::Http2Pool(event::DispatcherImpl& dispatcher, HostImpl& host,
                     const ClusterInfo& cluster, stats::Shard& shard)
    : dispatcher_(dispatcher), host_(host), cluster_(cluster), shard_(shard) {}

Http2Pool::~Http2Pool() {
  destroying_ = true;
  pending_.clear();
  auto connections = std::move(connections_);
  for (auto& connection : connections) {
    connection->close();
  }
}

void Http2Pool::Pending::cancel() { pool.pending_.erase(self); }

Http2Pool::Pending::~Pending() { pool.cluster_.resources->releasePending(); }

bool Http2Pool::idle() const { return connections_.empty() && pending_.empty(); }

// max_connections is per process: each connection takes one unit of the cluster's count, given
// back when it closes. A pool opens a connection only when it has no usable one (one per worker
// and host at a time), so it opens it even over the limit (counted in cx_overflow): refusing
// would strand the requests waiting for it.
void Http2Pool::startConnection() {
  if (!cluster_.resources->tryAcquireConnection()) {
    shard_.inc(cluster_.stats.cx_overflow);
    cluster_.resources->connections().forceAcquire();
  }
  auto connection = std::make_unique<Connection>(*this);
  Connection* raw = connection.get();
  connections_.push_back(std::move(connection));
  raw->self_ = std::prev(connections_.end());
  current_ = raw;
  raw->connect();
}

PendingRequest* Http2Pool::newStream(PoolCallbacks& callbacks) {
  if (current_ != nullptr && current_->hasCapacity() && pending_.empty()) {
    callbacks.onPoolReady(current_->newStream());
    return nullptr;
  }
  if (!cluster_.resources->tryAcquirePending()) {
    shard_.inc(cluster_.stats.rq_pending_overflow);
    callbacks.onPoolFailure(UpstreamFailure::Overflow,
                            "too many requests waiting for a connection (max_pending_requests)");
    return nullptr;
  }
  auto pending = std::make_unique<Pending>(*this, callbacks);
  Pending* raw = pending.get();
  pending_.push_back(std::move(pending));
  raw->self = std::prev(pending_.end());
  if (current_ == nullptr && !draining_) {
    startConnection();
  }
  return raw;
}

void Http2Pool::onCapacity(Connection& connection) {
  if (&connection != current_) {
    return;
  }
  while (!pending_.empty() && connection.hasCapacity()) {
    auto pending = std::move(pending_.front());
    pending_.pop_front();
    pending->callbacks.onPoolReady(connection.newStream());
  }
}

void Http2Pool::onConnectFailed(Connection& connection, UpstreamFailure failure,
                                std::string_view detail) {
  if (current_ == &connection) {
    current_ = nullptr;
  }
  auto owned = std::move(*connection.self_);
  connections_.erase(connection.self_);
  dispatcher_.deferredDelete(std::move(owned));
  std::string reason(detail);
  auto waiting = std::move(pending_);
  for (auto& pending : waiting) {
    pending->callbacks.onPoolFailure(failure, reason);
  }
}

void Http2Pool::retire(Connection& connection) {
  connection.retired_ = true;
  if (current_ == &connection) {
    current_ = nullptr;
    if (!pending_.empty() && !draining_) {
      startConnection();
    }
  }
}

void Http2Pool::onClosed(Connection& connection) {
  if (destroying_) {
    return;
  }
  if (current_ == &connection) {
    current_ = nullptr;
  }
  auto owned = std::move(*connection.self_);
  connections_.erase(connection.self_);
  dispatcher_.deferredDelete(std::move(owned));
  if (!pending_.empty() && !draining_ && current_ == nullptr) {
    startConnection();
  }
}

void Http2Pool::drain() {
  draining_ = true;
  current_ = nullptr;
  std::vector<Connection*> idle;
  for (auto& connection : connections_) {
    connection->retired_ = true;
    if (connection->empty()) {
      idle.push_back(connection.get());
    }
  }
  for (Connection* connection : idle) {
    connection->close();
  }
}

}  // namespace strait::upstream
