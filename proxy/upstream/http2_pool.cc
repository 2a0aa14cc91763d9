#include "proxy/upstream/http2_pool.h"

#include "proxy/tls/tls_connection.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <vector>

#include "proxy/http/http2_flow_control.h"
#include "proxy/http/http2_headers.h"

namespace strait::upstream {

namespace {

// Request body bytes one stream queues before the downstream is paused.
constexpr size_t kStreamBufferLimit = 256 * 1024;
constexpr int32_t kConnectionWindow = 1024 * 1024;

nghttp2_nv makeNv(std::string_view name, std::string_view value) {
  return {const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
          const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())), name.size(),
          value.size(), NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

// ---- Stream ---------------------------------------------------------------------------------

// One request on an upstream HTTP/2 connection.
class Http2Pool::Stream : public UpstreamClient, public event::DeferredDeletable {
 public:
  explicit Stream(Connection& connection) : connection_(connection) {}

  // UpstreamClient
  void attach(UpstreamStreamCallbacks& stream) override { callbacks_ = &stream; }
  void encodeHeaders(const http::RequestHeaders& headers,
                     const http::http1::MessageInfo& info) override;
  void encodeData(buffer::Buffer& data, bool end_stream) override;
  void writeTunnel(buffer::Buffer& data) override { data.clear(); }  // no upgrades on HTTP/2
  void readDisable(bool disable) override;
  void resetStream() override;
  bool reused() const override { return false; }
  const HostImpl& host() const override;

  ssize_t readBody(uint8_t* buf, size_t length, uint32_t* flags);
  void onHeader(bool trailers, std::string_view name, std::string_view value);
  void onHeadersDone(bool trailers, bool end_stream);
  void onData(const uint8_t* data, size_t len);
  void onEndStream();
  void onClosed(uint32_t error_code);
  void fail(std::string_view detail);

  Connection& connection() { return connection_; }

  int32_t id_ = -1;
  std::list<std::unique_ptr<Stream>>::iterator self_;

 private:
  nghttp2_session* session();
  void resumeData();

  Connection& connection_;
  UpstreamStreamCallbacks* callbacks_ = nullptr;
  http::ResponseHeaders response_;
  http::HeaderMap trailers_;
  buffer::Buffer out_;
  http::http2::InboundFlowControl inbound_;  // the response body's window
  bool out_end_ = false;
  bool data_deferred_ = false;
  bool above_limit_ = false;
  bool complete_ = false;
};

// ---- Connection -----------------------------------------------------------------------------

class Http2Pool::Connection : public network::ConnectionCallbacks, public event::DeferredDeletable {
 public:
  explicit Connection(Http2Pool& pool) : pool_(pool) {}
  ~Connection() override;

  void connect();
  // A new stream for `callbacks`' request; only when hasCapacity().
  Stream& newStream();
  bool ready() const { return state_ == State::Ready; }
  bool hasCapacity() const;
  bool empty() const { return streams_.empty(); }
  void close();
  void sendPending();
  nghttp2_session* session() { return session_; }
  Http2Pool& pool() { return pool_; }
  void removeStream(Stream& stream);

  // network::ConnectionCallbacks
  void onData(const char* data, size_t len) override;
  void onEvent(network::ConnectionEvent event) override;

  std::list<std::unique_ptr<Connection>>::iterator self_;
  uint64_t streams_opened_ = 0;  // for max_requests_per_connection
  bool retired_ = false;

 private:
  enum class State { Connecting, Ready, Closed };
  void createSession();
  void armIdle();

  Http2Pool& pool_;
  network::ConnectionPtr connection_;      // TLS over `transport_` for a cluster with tls
  network::ConnectionImpl* transport_ = nullptr;
  nghttp2_session* session_ = nullptr;
  std::list<std::unique_ptr<Stream>> streams_;
  event::TimerPtr timer_;  // connect timeout, then idle timeout
  State state_ = State::Connecting;
  bool in_nghttp2_ = false;
  bool send_wanted_ = false;
};

nghttp2_session* Http2Pool::Stream::session() { return connection_.session(); }

const HostImpl& Http2Pool::Stream::host() const { return connection_.pool().host(); }

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
  out_end_ = !has_body;
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
  out_.move(data);
  out_end_ = out_end_ || end_stream;
  resumeData();
  if (!above_limit_ && out_.length() > kStreamBufferLimit && callbacks_ != nullptr) {
    above_limit_ = true;
    callbacks_->onUpstreamWriteBufferHigh();
  }
  connection_.sendPending();
}

void Http2Pool::Stream::resumeData() {
  if (data_deferred_ && id_ > 0) {
    data_deferred_ = false;
    nghttp2_session_resume_data(session(), id_);
  }
}

ssize_t Http2Pool::Stream::readBody(uint8_t* buf, size_t length, uint32_t* flags) {
  size_t n = std::min(length, out_.length());
  if (n > 0) {
    out_.copyOut(n, buf);
    out_.drain(n);
  }
  if (out_.empty()) {
    if (out_end_) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (n == 0) {
      data_deferred_ = true;
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  if (above_limit_ && out_.length() <= kStreamBufferLimit / 2) {
    above_limit_ = false;
    if (callbacks_ != nullptr) {
      callbacks_->onUpstreamWriteBufferLow();
    }
  }
  return static_cast<ssize_t>(n);
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
  if (!out_end_ && id_ > 0) {
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

// ---- Connection -----------------------------------------------------------------------------

namespace {

Http2Pool::Stream* streamOf(nghttp2_session* session, int32_t id) {
  return static_cast<Http2Pool::Stream*>(nghttp2_session_get_stream_user_data(session, id));
}

bool isTrailers(const nghttp2_frame* frame) {
  return frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_HEADERS;
}

}  // namespace

Http2Pool::Connection::~Connection() {
  if (session_ != nullptr) {
    nghttp2_session_del(session_);
  }
}

void Http2Pool::Connection::connect() {
  auto& stats = pool_.cluster_.stats;
  pool_.shard_.inc(stats.cx_total);
  pool_.shard_.add(stats.cx_active, 1);
  pool_.host_.cx_active.fetch_add(1, std::memory_order_relaxed);
  auto transport = std::make_unique<network::ConnectionImpl>(pool_.dispatcher_);
  transport_ = transport.get();
  if (pool_.cluster_.tls != nullptr) {
    // h2 over TLS: the cluster's client context offers ALPN h2 only.
    connection_ = tls::TlsConnection::client(pool_.cluster_.tls, std::move(transport),
                                             pool_.dispatcher_, pool_.host_.address());
  } else {
    connection_ = std::move(transport);
  }
  connection_->setCallbacks(*this);
  timer_ = pool_.dispatcher_.createTimer([this]() {
    if (state_ == State::Connecting) {
      pool_.shard_.inc(pool_.cluster_.stats.cx_connect_timeout);
      pool_.host_.cx_connect_fail.fetch_add(1, std::memory_order_relaxed);
      Http2Pool& pool = pool_;
      close();
      pool.onConnectFailed(*this, UpstreamFailure::ConnectTimeout, "connect timeout");
      return;
    }
    close();  // idle
  });
  timer_->enableTimer(pool_.cluster_.config.connect_timeout);
  transport_->connect(pool_.host_.sockAddr());
}

void Http2Pool::Connection::createSession() {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(
      callbacks, [](nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                    size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                    void*) -> int {
        if (frame->hd.type != NGHTTP2_HEADERS) {
          return 0;
        }
        if (Stream* stream = streamOf(session, frame->hd.stream_id)) {
          stream->onHeader(isTrailers(frame),
                           std::string_view(reinterpret_cast<const char*>(name), namelen),
                           std::string_view(reinterpret_cast<const char*>(value), valuelen));
        }
        return 0;
      });
  nghttp2_session_callbacks_set_on_frame_recv_callback(
      callbacks, [](nghttp2_session* session, const nghttp2_frame* frame, void* user) -> int {
        auto* self = static_cast<Connection*>(user);
        if (frame->hd.type == NGHTTP2_GOAWAY) {
          self->pool_.retire(*self);
          return 0;
        }
        if (frame->hd.type == NGHTTP2_SETTINGS && self->state_ == State::Ready) {
          self->pool_.onCapacity(*self);  // the peer's stream limit may have changed
          return 0;
        }
        Stream* stream = frame->hd.stream_id != 0 ? streamOf(session, frame->hd.stream_id)
                                                  : nullptr;
        if (stream == nullptr) {
          return 0;
        }
        bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
        if (frame->hd.type == NGHTTP2_HEADERS) {
          stream->onHeadersDone(isTrailers(frame), end_stream);
        }
        if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) && end_stream) {
          stream->onEndStream();
        }
        return 0;
      });
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
      callbacks, [](nghttp2_session* session, uint8_t, int32_t id, const uint8_t* data,
                    size_t len, void*) -> int {
        if (Stream* stream = streamOf(session, id)) {
          stream->onData(data, len);
        } else {
          nghttp2_session_consume(session, id, len);
        }
        return 0;
      });
  nghttp2_session_callbacks_set_on_stream_close_callback(
      callbacks, [](nghttp2_session* session, int32_t id, uint32_t error_code, void*) -> int {
        if (Stream* stream = streamOf(session, id)) {
          stream->onClosed(error_code);
          stream->connection().removeStream(*stream);
        }
        return 0;
      });
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_session_client_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 1);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
}

bool Http2Pool::Connection::hasCapacity() const {
  if (state_ != State::Ready || retired_) {
    return false;
  }
  uint32_t limit = nghttp2_session_get_remote_settings(session_,
                                                       NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return streams_.size() < limit;
}

Http2Pool::Stream& Http2Pool::Connection::newStream() {
  timer_->disableTimer();
  const uint32_t max_requests = pool_.cluster_.config.max_requests_per_connection;
  if (max_requests != 0 && ++streams_opened_ >= max_requests) {
    // max_requests_per_connection: this is its last stream; it finishes and the connection
    // closes (retire() sends the next request to a new one).
    pool_.retire(*this);
  }
  streams_.push_back(std::make_unique<Stream>(*this));
  streams_.back()->self_ = std::prev(streams_.end());
  return *streams_.back();
}

void Http2Pool::Connection::removeStream(Stream& stream) {
  auto owned = std::move(*stream.self_);
  streams_.erase(stream.self_);
  pool_.dispatcher_.deferredDelete(std::move(owned));
  if (streams_.empty()) {
    if (retired_ || pool_.draining_) {
      // Nothing more will run on it; closed from the timer, outside nghttp2's callback.
      timer_->enableTimer(std::chrono::milliseconds(0));
      return;
    }
    armIdle();
  }
  pool_.onCapacity(*this);
}

void Http2Pool::Connection::armIdle() {
  if (pool_.cluster_.config.idle_timeout.count() > 0) {
    timer_->enableTimer(pool_.cluster_.config.idle_timeout);
  }
}

void Http2Pool::Connection::onData(const char* data, size_t len) {
  if (state_ != State::Ready) {
    return;
  }
  in_nghttp2_ = true;
  ssize_t rc = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), len);
  in_nghttp2_ = false;
  if (rc < 0) {
    close();
    return;
  }
  sendPending();
}

void Http2Pool::Connection::sendPending() {
  if (state_ != State::Ready) {
    return;
  }
  if (in_nghttp2_) {
    send_wanted_ = true;
    return;
  }
  in_nghttp2_ = true;
  do {
    send_wanted_ = false;
    buffer::Buffer out;
    for (;;) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        in_nghttp2_ = false;
        close();
        return;
      }
      if (n == 0) {
        break;
      }
      out.add(data, static_cast<size_t>(n));
    }
    if (!out.empty()) {
      connection_->write(out);
    }
  } while (send_wanted_ && state_ == State::Ready);
  in_nghttp2_ = false;
  if (state_ == State::Ready && nghttp2_session_want_read(session_) == 0 &&
      nghttp2_session_want_write(session_) == 0) {
    close();
  }
}

void Http2Pool::Connection::onEvent(network::ConnectionEvent event) {
  switch (event) {
    case network::ConnectionEvent::Connected:
      state_ = State::Ready;
      timer_->disableTimer();
      createSession();
      sendPending();
      armIdle();
      pool_.onCapacity(*this);
      return;
    case network::ConnectionEvent::ConnectFailed: {
      pool_.shard_.inc(pool_.cluster_.stats.cx_connect_fail);
      pool_.host_.cx_connect_fail.fetch_add(1, std::memory_order_relaxed);
      std::string reason = connection_->failureReason();
      Http2Pool& pool = pool_;
      close();
      pool.onConnectFailed(*this, UpstreamFailure::ConnectFailure, reason);
      return;
    }
    case network::ConnectionEvent::RemoteHalfClose:
    case network::ConnectionEvent::RemoteReset:
      pool_.shard_.inc(pool_.cluster_.stats.cx_destroy_remote);
      close();
      return;
  }
}

void Http2Pool::Connection::close() {
  if (state_ == State::Closed) {
    return;
  }
  bool was_connecting = state_ == State::Connecting;
  state_ = State::Closed;
  if (pool_.current_ == this) {
    pool_.current_ = nullptr;  // a retry of a failing stream must open a new connection
  }
  timer_->disableTimer();
  pool_.shard_.inc(pool_.cluster_.stats.rx_bytes, connection_->bytesReceived());
  pool_.shard_.inc(pool_.cluster_.stats.tx_bytes, connection_->bytesSent());
  pool_.shard_.sub(pool_.cluster_.stats.cx_active, 1);
  pool_.host_.cx_active.fetch_sub(1, std::memory_order_relaxed);
  pool_.cluster_.resources->releaseConnection();  // taken in Http2Pool::startConnection()
  connection_->close(network::CloseType::NoFlush);
  // Every stream still open fails (a retry may pick a new connection).
  auto streams = std::move(streams_);
  for (auto& stream : streams) {
    stream->fail("upstream connection closed");
  }
  for (auto& stream : streams) {
    pool_.dispatcher_.deferredDelete(std::move(stream));
  }
  if (!was_connecting) {
    pool_.onClosed(*this);
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
