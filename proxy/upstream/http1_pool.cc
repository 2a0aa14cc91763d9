#include "proxy/upstream/http1_pool.h"

#include <algorithm>

#include "proxy/tls/tls_connection.h"

namespace strait::upstream {

using network::ConnectionEvent;

// ---- Http1Client -------------------------------------------------------------------------

Http1Client::Http1Client(Http1Pool& pool, event::DispatcherImpl& dispatcher)
    : pool_(pool),
      dispatcher_(dispatcher),
      codec_(http::http1::createClientCodec(*this)) {
  auto transport = std::make_unique<network::ConnectionImpl>(dispatcher);
  transport_ = transport.get();
  if (pool.cluster().tls != nullptr) {
    connection_ = tls::TlsConnection::client(pool.cluster().tls, std::move(transport), dispatcher,
                                             pool.host().address());
  } else {
    connection_ = std::move(transport);
  }
  connection_->setCallbacks(*this);
}

Http1Client::~Http1Client() {
  if (connection_ != nullptr) {
    connection_->close(network::CloseType::NoFlush);
  }
}

HostImpl& Http1Client::host() { return pool_.host(); }

void Http1Client::connect() {
  auto& stats = pool_.cluster().stats;
  pool_.shard().inc(stats.cx_total);
  pool_.shard().add(stats.cx_active, 1);
  pool_.host().cx_active.fetch_add(1, std::memory_order_relaxed);
  timer_ = dispatcher_.createTimer([this]() {
    pool_.shard().inc(pool_.cluster().stats.cx_connect_timeout);
    pool_.host().cx_connect_fail.fetch_add(1, std::memory_order_relaxed);
    auto& pool = pool_;
    close();
    pool.onClientConnectFailed(*this, UpstreamFailure::ConnectTimeout, "connect timeout");
  });
  timer_->enableTimer(pool_.cluster().config.connect_timeout);
  transport_->connect(pool_.host().sockAddr());
}

void Http1Client::attach(UpstreamStreamCallbacks& stream) {
  stream_ = &stream;
  state_ = State::Busy;
  request_complete_ = false;
  response_complete_ = false;
  response_started_ = false;
  keep_alive_ = true;
  requests_++;
  timer_.reset();
}

void Http1Client::encodeHeaders(const http::RequestHeaders& headers,
                                   const http::http1::MessageInfo& info) {
  buffer::Buffer out;
  codec_->encodeHeaders(headers, info, out);
  bool has_body = info.chunked || (info.content_length.has_value() && *info.content_length > 0);
  request_complete_ = !has_body && !info.upgrade;
  upgrade_requested_ = info.upgrade;
  connection_->write(out);
}

void Http1Client::encodeData(buffer::Buffer& data, bool end_stream) {
  buffer::Buffer out;
  codec_->encodeData(data, end_stream, out);
  if (end_stream) {
    request_complete_ = true;
  }
  connection_->write(out);
}

void Http1Client::writeTunnel(buffer::Buffer& data) { connection_->write(data); }

void Http1Client::readDisable(bool disable) {
  if (connection_ != nullptr) {
    connection_->readDisable(disable);
  }
}

void Http1Client::resetStream() {
  stream_ = nullptr;
  close();
}

void Http1Client::onData(const char* data, size_t len) {
  // The stream may finish inside; its memory stays valid until the end of this loop iteration
  // (streams are destroyed through deferredDelete), so the bracket can be closed safely.
  UpstreamStreamCallbacks* stream = stream_;
  if (stream != nullptr) {
    stream->onUpstreamReadBegin();
  }
  onDataInRead(data, len);
  if (stream != nullptr) {
    stream->onUpstreamReadEnd();
  }
}

void Http1Client::onDataInRead(const char* data, size_t len) {
  if (state_ == State::Tunnel) {
    if (stream_ != nullptr) {
      stream_->onUpstreamTunnelData(data, len);
    }
    return;
  }
  if (state_ == State::Busy) {
    response_started_ = true;
  }
  if (state_ != State::Busy) {
    // Bytes from an idle upstream are not a response to anything: the connection is unusable.
    close();
    return;
  }
  auto result = codec_->dispatch(data, len);
  switch (result.status) {
    case http::http1::DispatchResult::Status::Ok:
    case http::http1::DispatchResult::Status::Error:
      return;
    case http::http1::DispatchResult::Status::Paused:
      if (result.consumed < len) {
        // A response followed by unrequested bytes: do not reuse this connection.
        keep_alive_ = false;
      }
      afterResponse();
      return;
    case http::http1::DispatchResult::Status::Upgraded:
      if (stream_ == nullptr) {
        // A 101 the request did not ask for: the stream has its answer; the rest of this
        // connection is not HTTP, so it cannot be reused.
        close();
        return;
      }
      state_ = State::Tunnel;
      if (result.consumed < len) {
        stream_->onUpstreamTunnelData(data + result.consumed, len - result.consumed);
      }
      return;
  }
}

void Http1Client::onEvent(ConnectionEvent event) {
  switch (event) {
    case ConnectionEvent::Connected:
      timer_.reset();
      state_ = State::Idle;
      pool_.onClientConnected(*this);
      return;
    case ConnectionEvent::ConnectFailed: {
      pool_.shard().inc(pool_.cluster().stats.cx_connect_fail);
      pool_.host().cx_connect_fail.fetch_add(1, std::memory_order_relaxed);
      std::string reason = connection_->failureReason();
      auto& pool = pool_;
      close();
      pool.onClientConnectFailed(*this, UpstreamFailure::ConnectFailure, reason);
      return;
    }
    case ConnectionEvent::RemoteHalfClose:
    case ConnectionEvent::RemoteReset:
      pool_.shard().inc(pool_.cluster().stats.cx_destroy_remote);
      if (state_ == State::Busy && !response_started_) {
        fail(UpstreamFailure::Reset, event == ConnectionEvent::RemoteReset
                                         ? "connection reset before the response"
                                         : "connection closed before the response");
        return;
      }
      if (state_ == State::Busy && event == ConnectionEvent::RemoteHalfClose &&
          codec_->onEof()) {
        // A close-delimited response just completed (onResponseComplete ran).
        close();
        return;
      }
      if (state_ == State::Busy || state_ == State::Tunnel) {
        fail(UpstreamFailure::Reset, state_ == State::Tunnel ? "upstream closed the tunnel"
                                                             : "upstream connection closed");
        return;
      }
      close();
      return;
  }
}

void Http1Client::onAboveWriteBufferHighWatermark() {
  if (stream_ != nullptr) {
    stream_->onUpstreamWriteBufferHigh();
  }
}

void Http1Client::onBelowWriteBufferLowWatermark() {
  if (stream_ != nullptr) {
    stream_->onUpstreamWriteBufferLow();
  }
}

void Http1Client::onResponseHeaders(http::ResponseHeaders& headers,
                                       const http::http1::MessageInfo& info) {
  keep_alive_ = keep_alive_ && info.keep_alive;
  if (info.upgrade && upgrade_requested_) {
    // A 101 to an upgrade request: from here on the connection is the stream's tunnel (onResponseComplete must not
    // detach the stream, or the upstream's tunnel bytes and its close would go nowhere).
    state_ = State::Tunnel;
  }
  if (stream_ != nullptr) {
    stream_->onUpstreamHeaders(headers, info);
  }
}

void Http1Client::onResponseBody(const char* data, size_t len) {
  if (stream_ != nullptr) {
    stream_->onUpstreamData(data, len);
  }
}

void Http1Client::onResponseComplete() {
  // Runs inside codec_->dispatch(): the codec must not be resumed (or the connection handed to
  // another request) from here. onData() finishes the job once dispatch() has returned.
  response_complete_ = true;
  UpstreamStreamCallbacks* stream = stream_;
  if (state_ == State::Tunnel) {
    if (stream != nullptr) {
      stream->onUpstreamComplete();
    }
    return;
  }
  stream_ = nullptr;
  if (stream != nullptr) {
    stream->onUpstreamComplete();
  }
}

void Http1Client::afterResponse() {
  if (state_ != State::Busy) {
    return;  // an upgrade turned it into a tunnel, or it was closed
  }
  // Byte counters move per response, not only when the connection closes: a pooled
  // keep-alive connection may live for hours.
  uint64_t rx = connection_->bytesReceived();
  uint64_t tx = connection_->bytesSent();
  pool_.shard().inc(pool_.cluster().stats.rx_bytes, rx - last_rx_);
  pool_.shard().inc(pool_.cluster().stats.tx_bytes, tx - last_tx_);
  last_rx_ = rx;
  last_tx_ = tx;
  const uint32_t max_requests = pool_.cluster().config.max_requests_per_connection;
  if (max_requests != 0 && requests_ >= max_requests) {
    keep_alive_ = false;  // max_requests_per_connection: this was its last request
  }
  if (keep_alive_ && request_complete_ && !pool_.draining_) {
    codec_->resume();
    pool_.onClientReleased(*this);
  } else {
    close();
  }
}

void Http1Client::onResponseError(std::string_view reason) {
  fail(UpstreamFailure::ProtocolError, reason);
}

void Http1Client::fail(UpstreamFailure failure, std::string_view detail) {
  UpstreamStreamCallbacks* stream = stream_;
  stream_ = nullptr;
  std::string reason(detail);
  close();
  if (stream != nullptr) {
    stream->onUpstreamError(failure, reason);
  }
}

void Http1Client::close() {
  if (state_ == State::Closed) {
    return;
  }
  State previous = state_;
  state_ = State::Closed;
  timer_.reset();
  uint64_t rx = connection_->bytesReceived();
  uint64_t tx = connection_->bytesSent();
  pool_.shard().inc(pool_.cluster().stats.rx_bytes, rx - last_rx_);
  pool_.shard().inc(pool_.cluster().stats.tx_bytes, tx - last_tx_);
  last_rx_ = rx;
  last_tx_ = tx;
  connection_->close(network::CloseType::NoFlush);
  pool_.shard().sub(pool_.cluster().stats.cx_active, 1);
  pool_.host().cx_active.fetch_sub(1, std::memory_order_relaxed);
  pool_.cluster().resources->releaseConnection();  // taken in Http1Pool::startClient()
  if (previous != State::Connecting) {
    pool_.onClientClosed(*this);
  }
}

// ---- Http1Pool ------------------------------------------------------------------------------

Http1Pool::Http1Pool(event::DispatcherImpl& dispatcher, HostImpl& host,
                     const ClusterInfo& cluster, stats::Shard& shard)
    : dispatcher_(dispatcher), host_(host), cluster_(cluster), shard_(shard) {}

Http1Pool::~Http1Pool() {
  destroying_ = true;
  pending_.clear();
  idle_.clear();
  auto clients = std::move(clients_);
  for (auto& client : clients) {
    client->stream_ = nullptr;
    client->close();
  }
}

void Http1Pool::Pending::cancel() { pool.pending_.erase(self); }

PendingRequest* Http1Pool::newStream(PoolCallbacks& callbacks) {
  if (!idle_.empty()) {
    Http1Client* client = idle_.front();
    idle_.pop_front();
    callbacks.onPoolReady(*client);
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
  // One new connection per waiting request, within max_connections.
  if (connecting_ < pending_.size()) {
    startClient();
  }
  return raw;
}

Http1Pool::Pending::~Pending() { pool.cluster_.resources->releasePending(); }

// max_connections is per process: the connection takes one unit of the cluster's count, given
// back when it closes. At the limit, the waiting request is served by this pool's next free
// connection, except in a pool with none at all (other workers hold every connection), which
// opens one anyway rather than strand its requests.
bool Http1Pool::startClient() {
  if (!cluster_.resources->tryAcquireConnection()) {
    shard_.inc(cluster_.stats.cx_overflow);
    if (!clients_.empty()) {
      return false;
    }
    cluster_.resources->connections().forceAcquire();
  }
  auto client = std::make_unique<Http1Client>(*this, dispatcher_);
  Http1Client* c = client.get();
  clients_.push_back(std::move(client));
  c->self_ = std::prev(clients_.end());
  connecting_++;
  c->connect();
  return true;
}

void Http1Pool::onClientConnected(Http1Client& client) {
  connecting_--;
  assign(client);
}

void Http1Pool::assign(Http1Client& client) {
  if (pending_.empty()) {
    client.state_ = Http1Client::State::Idle;
    idle_.push_front(&client);
    // Idle connections close after the cluster's idle_timeout.
    client.timer_ = dispatcher_.createTimer([&client]() { client.close(); });
    client.timer_->enableTimer(cluster_.config.idle_timeout);
    return;
  }
  auto pending = std::move(pending_.front());
  pending_.pop_front();
  pending->callbacks.onPoolReady(client);
}

void Http1Pool::onClientConnectFailed(Http1Client& client, UpstreamFailure failure,
                                      std::string_view detail) {
  connecting_--;
  auto owned = std::move(*client.self_);
  clients_.erase(client.self_);
  dispatcher_.deferredDelete(std::move(owned));
  // The connection failed for the host, not for one request: fail the waiters it stood for.
  // Waiters beyond the connections still in progress have nothing left to wait for.
  while (pending_.size() > connecting_) {
    auto pending = std::move(pending_.front());
    pending_.pop_front();
    pending->callbacks.onPoolFailure(failure, detail);
  }
}

void Http1Pool::onClientReleased(Http1Client& client) { assign(client); }

void Http1Pool::onClientClosed(Http1Client& client) {
  if (destroying_) {
    return;
  }
  idle_.remove(&client);
  auto owned = std::move(*client.self_);
  clients_.erase(client.self_);
  dispatcher_.deferredDelete(std::move(owned));
  // A waiter may have been counting on this connection's capacity.
  if (!pending_.empty() && connecting_ < pending_.size() && !draining_) {
    startClient();
  }
}

void Http1Pool::drain() {
  draining_ = true;
  std::vector<Http1Client*> idle(idle_.begin(), idle_.end());
  for (Http1Client* client : idle) {
    client->close();
  }
}

}  // namespace strait::upstream
